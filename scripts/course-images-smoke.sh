#!/usr/bin/env bash
# End-to-end check of the course images (scripts/build-images.sh builds them,
# scripts/seed-registry.sh seeds them) on the host's Docker, no Go involved:
#   hello-world prints its text; debian is bookworm; busybox runs;
#   nginx and httpd serve their default page and a file put in their web root,
#   logging requests to stdout; mariadb refuses to start without a root
#   password option, and initialises from the MYSQL_* spellings and a _FILE
#   variant; wordpress + mariadb, the "two commands" on a user-defined network:
#   302 to the installer, the installer, a scripted install through a
#   proxy-like Host, the front page with the site title under both hosts, an
#   admin login, and a wrong DB password failing fast with a clear message;
#   tinyweb (lab image-contents) serves its page, its entrypoint starts the
#   fake miner (asleep), and the deleted deploy.env is gone from containers
#   but still in a lower layer.
# Prints PASS/FAIL per image and exits 1 if anything failed. Removes its
# containers (and their anonymous volumes) and network.
#   COURSE_IMAGES=handson/library (default) or e.g. 127.0.0.1:5000/library
set -uo pipefail

P=${COURSE_IMAGES:-handson/library}
RUN=handson-smoke-$$
NET=$RUN-net
failed=()

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
T0=$(now)

cleanup() {
  local ids
  ids=$(docker ps -aq --filter "label=handson.smoke=$RUN")
  [ -z "$ids" ] || docker rm -fv $ids >/dev/null 2>&1
  docker network rm "$NET" >/dev/null 2>&1 || true
  rm -rf "${TMP:-}"
}
trap cleanup EXIT
TMP=$(mktemp -d /tmp/handson-smoke.XXXXXX)

docker info >/dev/null 2>&1 || { echo "course-images-smoke.sh: docker is not answering; run scripts/host-setup.sh" >&2; exit 1; }

# run NAME ARGS...: docker run -d with this run's label; prints the id.
run() { local n=$1; shift; docker run -d --name "$RUN-$n" --label "handson.smoke=$RUN" "$@"; }
port_of() { docker port "$1" "${2:-80}/tcp" | grep -m1 '^127\.0\.0\.1:' | cut -d: -f2; }
# wait_http URL SECONDS: until anything answers.
wait_http() {
  local end=$(( $(date +%s) + $2 ))
  until curl -s -o /dev/null --max-time 2 "$1"; do
    [ "$(date +%s)" -lt "$end" ] || return 1
    sleep 0.2
  done
}
# wait_log CONTAINER TEXT SECONDS [COUNT]: until TEXT appears COUNT times in its logs.
wait_log() {
  local end=$(( $(date +%s) + $3 )) want=${4:-1}
  until [ "$(docker logs "$1" 2>&1 | grep -cF -- "$2")" -ge "$want" ]; do
    [ "$(date +%s)" -lt "$end" ] || return 1
    docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null | grep -q true || return 1
    sleep 0.2
  done
}

# check NAME FUNCTION: run one image's test, PASS/FAIL with its time.
check() {
  local name=$1 t1 out rc
  t1=$(now)
  out=$("$2" 2>&1); rc=$?
  if [ $rc -eq 0 ]; then
    printf 'PASS %-12s %5ss  %s\n' "$name" "$(since "$t1")" "$(tail -n1 <<<"$out")"
  else
    printf 'FAIL %-12s %5ss\n' "$name" "$(since "$t1")"
    sed 's/^/     | /' <<<"$out"
    failed+=("$name")
  fi
}
fail() { echo "$*"; return 1; }

t_hello_world() {
  local out
  out=$(docker run --rm --label "handson.smoke=$RUN" "$P/hello-world") || fail "docker run failed: $out" || return
  grep -q '^Hello from Docker!$' <<<"$out" || fail "no 'Hello from Docker!' in: $out" || return
  echo "printed $(wc -l <<<"$out") lines"
}

t_debian() {
  local v id t
  v=$(docker run --rm --label "handson.smoke=$RUN" "$P/debian:bookworm" cat /etc/debian_version) || return 1
  [[ $v == 12.* ]] || fail "debian_version is '$v'" || return
  id=$(docker image inspect -f '{{.Id}}' "$P/debian:bookworm")
  for t in 12 latest; do
    [ "$(docker image inspect -f '{{.Id}}' "$P/debian:$t" 2>/dev/null)" = "$id" ] || fail "debian:$t is not debian:bookworm" || return
  done
  echo "debian_version $v (tags bookworm, 12, latest)"
}

t_busybox() {
  local out
  out=$(docker run --rm --label "handson.smoke=$RUN" "$P/busybox" sh -c 'echo busybox-ok; ls /bin | wc -l') || return 1
  grep -q busybox-ok <<<"$out" || fail "$out" || return
  echo "$(tail -n1 <<<"$out") applets linked"
}

# web NAME IMAGE DOCROOT TEXT: default page, a new file, request log on stdout.
t_web() {
  local name=$1 image=$2 root=$3 text=$4 c port body t1
  c=$(run "$name" -p 127.0.0.1::80 "$image") || return 1
  port=$(port_of "$c")
  wait_http "http://127.0.0.1:$port/" 20 || { docker logs "$c"; fail "$name: nothing answers on port $port"; return; }
  body=$(curl -fsS "http://127.0.0.1:$port/") || return 1
  grep -qF "$text" <<<"$body" || fail "$name: default page lacks '$text': $body" || return
  docker exec "$c" sh -c "echo smoke-$RUN >$root/smoke.html" || return 1
  body=$(curl -fsS "http://127.0.0.1:$port/smoke.html") || return 1
  [ "$body" = "smoke-$RUN" ] || fail "$name: $root/smoke.html not served: $body" || return
  docker logs "$c" 2>/dev/null | grep -q '"GET /smoke.html HTTP/1.1" 200' \
    || fail "$name: request not logged on stdout: $(docker logs "$c" 2>&1)" || return
  t1=$(now)
  docker stop "$c" >/dev/null || return 1
  echo "default page + $root served on 127.0.0.1:$port, access log on stdout, docker stop $(since "$t1") s"
}
t_nginx() { t_web nginx "$P/nginx" /usr/share/nginx/html 'Welcome to nginx!'; }
t_httpd() { t_web httpd "$P/httpd" /usr/local/apache2/htdocs 'It works!'; }

t_mariadb() {
  local out c t1
  # No root password option: refuses, naming the three options.
  if out=$(docker run --rm --label "handson.smoke=$RUN" "$P/mariadb" 2>&1); then
    fail "started without a root password option"; return
  fi
  for v in MARIADB_ROOT_PASSWORD MARIADB_ALLOW_EMPTY_ROOT_PASSWORD MARIADB_RANDOM_ROOT_PASSWORD; do
    grep -q "$v" <<<"$out" || fail "refusal does not name $v: $out" || return
  done
  # MYSQL_* spellings; the root password from a _FILE (the container's
  # /etc/hostname, so no bind mount is needed).
  t1=$(now)
  c=$(run mariadb --hostname rootpw-smoke -e MYSQL_ROOT_PASSWORD_FILE=/etc/hostname \
      -e MYSQL_DATABASE=shop -e MYSQL_USER=clerk -e MYSQL_PASSWORD='p@ss w0rd' "$P/mariadb") || return 1
  wait_log "$c" 'port: 3306' 90 || { docker logs "$c"; fail "mariadb not ready (no 'port: 3306' line)"; return; }
  local ready; ready=$(since "$t1")
  out=$(docker exec "$c" mariadb -h127.0.0.1 -uclerk -p'p@ss w0rd' shop -N -e \
        "create table t (s varchar(20)); insert into t values ('日本語'); select current_user(), s from t") \
    || fail "MYSQL_USER cannot use MYSQL_DATABASE over TCP: $out" || return
  grep -q 'clerk@%' <<<"$out" || fail "user is not clerk@'%': $out" || return
  docker exec "$c" mariadb -h127.0.0.1 -uroot -prootpw-smoke -e 'select 1' >/dev/null \
    || fail "root password from MYSQL_ROOT_PASSWORD_FILE does not work" || return
  docker exec "$c" healthcheck.sh --connect --innodb_initialized >/dev/null \
    || fail "healthcheck.sh --connect --innodb_initialized failed" || return
  t1=$(now)
  docker restart "$c" >/dev/null && wait_log "$c" 'port: 3306' 60 2 \
    || fail "not ready again after docker restart" || return
  echo "refuses without password; MYSQL_* + _FILE ready in $ready s, restart ready in $(since "$t1") s"
}

t_wordpress() {
  local db wp port url code loc body t1 t_ready t_inst proxy_host out
  docker network create "$NET" >/dev/null || return 1
  t1=$(now)
  # The two commands a student types (with -d and a published port).
  db=$(run wp-db --network "$NET" --network-alias db -e MARIADB_ROOT_PASSWORD=rootpw \
       -e MARIADB_DATABASE=wordpress -e MARIADB_USER=wpuser -e MARIADB_PASSWORD=wppass "$P/mariadb") || return 1
  wp=$(run wordpress --network "$NET" -p 127.0.0.1::80 -e WORDPRESS_DB_HOST=db \
       -e WORDPRESS_DB_USER=wpuser -e WORDPRESS_DB_PASSWORD=wppass -e WORDPRESS_DB_NAME=wordpress \
       "$P/wordpress") || return 1
  port=$(port_of "$wp")
  url=http://127.0.0.1:$port
  wait_http "$url/" 120 || { docker logs "$db" | tail -5; docker logs "$wp"; fail "wordpress: nothing answers on port $port"; return; }
  t_ready=$(since "$t1")

  read -r code loc < <(curl -s -o /dev/null -w '%{http_code} %{redirect_url}\n' "$url/")
  [ "$code" = 302 ] && [[ $loc == "$url/wp-admin/install.php" ]] \
    || fail "GET / gave $code $loc, want 302 to $url/wp-admin/install.php" || return
  code=$(curl -s -o "$TMP/install.html" -w '%{http_code}' "$url/wp-admin/install.php")
  [ "$code" = 200 ] && grep -q 'id="setup"' "$TMP/install.html" \
    || fail "install.php gave $code: $(head -c 400 "$TMP/install.html")" || return

  # Install as a browser would through the platform's preview proxy (another
  # Host, another port): WordPress takes its URLs from this request.
  proxy_host=8080-smoke.preview.localhost:18000
  t1=$(now)
  code=$(curl -s -o "$TMP/step2.html" -w '%{http_code}' -H "Host: $proxy_host" \
    --data-urlencode 'weblog_title=Handson Smoke Site' --data-urlencode 'user_name=admin' \
    --data-urlencode 'admin_password=Corr3ct-Horse-Battery' --data-urlencode 'admin_password2=Corr3ct-Horse-Battery' \
    --data-urlencode 'admin_email=admin@example.com' --data-urlencode 'blog_public=0' \
    --data-urlencode 'Submit=Install WordPress' "$url/wp-admin/install.php?step=2")
  t_inst=$(since "$t1")
  [ "$code" = 200 ] && grep -q '<h1>Success!</h1>' "$TMP/step2.html" \
    || fail "install step 2 gave $code: $(sed 's/<[^>]*>//g' "$TMP/step2.html" | grep -v '^\s*$' | head -20)" || return

  # Front page under the published port, then under the proxy's Host.
  body=$(curl -fsS "$url/") || fail "front page failed" || return
  grep -q '<title>Handson Smoke Site' <<<"$body" || fail "front page lacks the site title" || return
  grep -q "href=\"$url/?feed=rss2\"" <<<"$body" || fail "front page links do not use $url" || return
  body=$(curl -fsS -H "Host: $proxy_host" "$url/") || return 1
  grep -q "href=\"http://$proxy_host/?feed=rss2\"" <<<"$body" || fail "front page links do not follow Host $proxy_host" || return
  body=$(curl -fsS -H "X-Forwarded-Host: $proxy_host" "$url/") || return 1
  grep -q "href=\"http://$proxy_host/?feed=rss2\"" <<<"$body" || fail "front page links do not follow X-Forwarded-Host" || return
  code=$(curl -s -o /dev/null -w '%{http_code}' "$url/wp-content/themes/twentytwentythree/style.css")
  [ "$code" = 200 ] || fail "theme stylesheet gave $code" || return

  # Admin login, then the dashboard.
  code=$(curl -s -c "$TMP/cookies" -b 'wordpress_test_cookie=WP%20Cookie%20check' -o /dev/null -w '%{http_code}' \
    --data-urlencode 'log=admin' --data-urlencode 'pwd=Corr3ct-Horse-Battery' --data-urlencode 'testcookie=1' \
    --data-urlencode "redirect_to=$url/wp-admin/" "$url/wp-login.php")
  [ "$code" = 302 ] || fail "login gave $code" || return
  body=$(curl -fsS -b "$TMP/cookies" "$url/wp-admin/") || fail "wp-admin failed after login" || return
  grep -q '<title>Dashboard' <<<"$body" || fail "no dashboard after login" || return

  # A wrong password: the container stops at once and says why.
  t1=$(now)
  if out=$(docker run --rm --label "handson.smoke=$RUN" --network "$NET" -e WORDPRESS_DB_HOST=db \
        -e WORDPRESS_DB_USER=wpuser -e WORDPRESS_DB_PASSWORD=wrong "$P/wordpress" 2>&1); then
    fail "wordpress started with a wrong DB password"; return
  fi
  grep -q 'refused the login: Access denied' <<<"$out" || fail "unclear message for a wrong password: $out" || return
  echo "first HTTP answer ${t_ready} s after docker run, install ${t_inst} s, site on 127.0.0.1:$port and $proxy_host, wrong password stops in $(since "$t1") s"
}

# tinyweb: the lab image-contents' image. What the lab has students find must
# be there: the fake miner started by the entrypoint (and only sleeping), and
# a password in a lower layer that containers do not see.
t_tinyweb() {
  local c port body procs
  c=$(run tinyweb -p 127.0.0.1::80 "$P/tinyweb") || return 1
  port=$(port_of "$c")
  wait_http "http://127.0.0.1:$port/" 20 || { docker logs "$c"; fail "tinyweb: nothing answers on port $port"; return; }
  body=$(curl -fsS "http://127.0.0.1:$port/") || return 1
  grep -qF 'tinyweb works!' <<<"$body" || fail "page lacks 'tinyweb works!': $body" || return
  procs=$(docker exec "$c" ps -o args) || return 1
  grep -q '^{kworkerd} /bin/sh /usr/local/lib/\.cache/kworkerd -o stratum+tcp://[^ ]*\.invalid:[0-9]* ' <<<"$procs" \
    || fail "no fake miner with an .invalid pool among: $procs" || return
  grep -qx 'sleep 3600' <<<"$procs" || fail "the fake miner is not asleep: $procs" || return
  if docker exec "$c" test -e /etc/tinyweb/deploy.env; then fail "deploy.env is visible in a container"; return; fi
  docker save "$P/tinyweb" | tar -xO --wildcards '*/layer.tar' | tar -xiO etc/tinyweb/deploy.env | grep -q '^DB_PASSWORD=.' \
    || fail "no DB_PASSWORD in the layers of docker save" || return
  echo "page on 127.0.0.1:$port, fake miner asleep, deleted deploy.env still in a lower layer"
}

check hello-world t_hello_world
check debian t_debian
check busybox t_busybox
check nginx t_nginx
check httpd t_httpd
check mariadb t_mariadb
check wordpress t_wordpress
check tinyweb t_tinyweb

echo "course images ($P): $(( 8 - ${#failed[@]} ))/8 passed in $(since "$T0") s"
[ ${#failed[@]} -eq 0 ] || { echo "FAILED: ${failed[*]}"; exit 1; }
