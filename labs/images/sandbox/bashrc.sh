# handson sandbox: sourced from /etc/bash.bashrc by every interactive bash.
# Non-login `docker exec -u student bash` sessions do not read profile.d.
if [ "$(id -u)" = 1000 ]; then
  export XDG_RUNTIME_DIR=/run/user/1000
fi

# The terminal opens while the student's Docker is still starting (a second
# or two): the first docker command waits for it instead of failing.
docker() {
  if [ ! -e /run/handson/preloaded ]; then
    echo "(waiting for Docker to start…)" >&2
    local i=0
    while [ ! -e /run/handson/preloaded ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
  fi
  command docker "$@"
}
