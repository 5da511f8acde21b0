# handson sandbox: login-shell environment (also set via ENV and /etc/environment).
export DOCKER_HOST=unix:///run/user/1000/docker.sock
export LANG="${LANG:-C.UTF-8}"
export TERM="${TERM:-xterm-256color}"
if [ "$(id -u)" = 1000 ]; then
  export XDG_RUNTIME_DIR=/run/user/1000
fi
