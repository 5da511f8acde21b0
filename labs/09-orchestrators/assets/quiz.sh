#!/bin/bash
# quiz.sh: asks for your answer to each question of the quiz (the questions
# are in the guide) and saves them in ~/quiz/answers, one "number=letter" a
# line. Press Enter alone to keep the answer saved before.
# 確認テストの答えを 1 問ずつ聞いて、~/quiz/answers に「番号=記号」で
# 保存します。Enter だけを押すと、前に保存した答えのままです。
questions=12
file=~/quiz/answers
declare -A old
if [ -f "$file" ]; then
  while IFS='=' read -r q a; do
    q=${q//[[:space:]]/}
    a=${a%%#*}
    a=${a//[[:space:]]/}
    [[ $q =~ ^[0-9]+$ ]] && old[$((10#$q))]=${a,,}
  done <"$file"
fi
declare -a answers
for q in $(seq 1 $questions); do
  while :; do
    read -r -p "$q (a-d) [${old[$q]:--}]: " a || { echo; exit 1; }
    a=${a//[[:space:]]/}
    a=${a,,}
    a=${a:-${old[$q]}}
    case $a in [abcd]) break ;; esac
    echo "  a, b, c, d"
  done
  answers[q]=$a
done
mkdir -p ~/quiz
{
  echo "# number=letter / 番号=記号"
  for q in $(seq 1 $questions); do echo "$q=${answers[q]}"; done
} >"$file"
echo "saved / 保存しました: $file"
