# handson sandbox: sourced from /etc/bash.bashrc by every interactive bash.
# Non-login `docker exec -u student bash` sessions do not read profile.d.
if [ "$(id -u)" = 1000 ]; then
  export XDG_RUNTIME_DIR=/run/user/1000
fi
