#!/bin/bash
# healthcheck.sh of the handson mariadb image: the two tests of the official
# image's healthcheck.sh that compose files use most.
#   --connect               the server accepts TCP connections on localhost
#   --innodb_initialized    InnoDB is up (as the healthcheck user the
#                           entrypoint created, from $DATADIR/.my-healthcheck.cnf)
# Options of the official script that make no difference here
# (--su-mysql, --su=USER, --no-defaults, --defaults-*) are accepted.
set -eo pipefail

datadir=/var/lib/mysql
extra=()
if [ -r "$datadir/.my-healthcheck.cnf" ]; then
	extra=(--defaults-extra-file="$datadir/.my-healthcheck.cnf")
fi

connect() {
	local out
	out=$(mariadb "${extra[@]}" --skip-ssl -h localhost --protocol tcp -e 'select 1' 2>&1) || true
	case "$out" in
		*"Can't connect"*) return 1 ;;
	esac
	return 0
}

innodb_initialized() {
	local out
	out=$(mariadb "${extra[@]}" --skip-ssl -h localhost --protocol tcp -N -B -e \
		"select 1 from information_schema.ENGINES WHERE engine='innodb' AND support in ('YES', 'DEFAULT', 'ENABLED')" 2>/dev/null) || return 1
	[ "$out" = 1 ]
}

[ $# -gt 0 ] || set -- --connect
for arg; do
	case "$arg" in
		--connect) connect || { echo "healthcheck connect failed"; exit 1; } ;;
		--innodb_initialized|--innodb_buffer_pool_loaded)
			innodb_initialized || { echo "healthcheck ${arg#--} failed"; exit 1; } ;;
		--su-mysql|--su=*|--no-defaults|--defaults-file=*|--defaults-extra-file=*|--defaults-group-suffix=*) ;;
		*) echo "healthcheck.sh: unsupported test $arg (this image has --connect and --innodb_initialized)" >&2; exit 1 ;;
	esac
done
