#!/bin/bash
# docker-entrypoint.sh of the handson mariadb image (Debian's MariaDB 10.11).
# Behaves like the official mariadb image's entrypoint for what the course
# uses: on an empty data directory it initialises the database from
# MARIADB_* (or MYSQL_*) variables and their _FILE variants, runs
# /docker-entrypoint-initdb.d/*, then runs mariadbd as the mysql user.
set -eo pipefail
shopt -s nullglob

mysql_log() {
	local type=$1; shift
	printf '%s [%s] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$type" "$*"
}
mysql_note() { mysql_log Note "$@"; }
mysql_warn() { mysql_log Warn "$@" >&2; }
mysql_error() { mysql_log ERROR "$@" >&2; exit 1; }

# file_env VAR [DEFAULT]: the value of VAR, or the content of the file named
# by VAR_FILE (setting both is an error), else DEFAULT.
file_env() {
	local var=$1 fileVar="${1}_FILE" def="${2:-}"
	if [ -n "${!var:-}" ] && [ -n "${!fileVar:-}" ]; then
		mysql_error "Both $var and $fileVar are set (but are exclusive)"
	fi
	local val=$def
	if [ -n "${!var:-}" ]; then
		val=${!var}
	elif [ -n "${!fileVar:-}" ]; then
		[ -r "${!fileVar}" ] || mysql_error "$fileVar=${!fileVar}: file not readable"
		val=$(<"${!fileVar}")
	fi
	export "$var"="$val"
	unset "$fileVar"
}

# MYSQL_X (or MYSQL_X_FILE), then MARIADB_X (or MARIADB_X_FILE) which wins.
mariadb_file_env() {
	local var=$1; shift
	local maria="MARIADB_${var#MYSQL_}"
	file_env "$var" "$@"
	file_env "$maria" "${!var}"
	if [ -n "${!maria:-}" ]; then
		export "$var"="${!maria}"
	fi
}

# Arguments that only print something: no initialisation.
mysql_want_help() {
	local arg
	for arg; do
		case "$arg" in
			-'?'|--help|--print-defaults|-V|--version) return 0 ;;
		esac
	done
	return 1
}

# mysql_get_config NAME CMD...: the server's effective setting.
mysql_get_config() {
	local conf=$1; shift
	"$@" --verbose --help 2>/dev/null \
		| awk -v conf="$conf" '$1 == conf && /^[^ \t]/ { sub(/^[^ \t]+[ \t]+/, ""); print; exit }'
}

mysql_check_config() {
	local out
	if ! out=$("$@" --verbose --help 2>&1 >/dev/null); then
		mysql_error $'mariadbd failed while attempting to check config\n\tcommand was: '"$*"$'\n\t'"$out"
	fi
}

docker_setup_env() {
	DATADIR=$(mysql_get_config datadir "$@")
	DATADIR=${DATADIR%/}
	SOCKET=$(mysql_get_config socket "$@")
	PORT=$(mysql_get_config port "$@")

	mariadb_file_env MYSQL_ROOT_HOST '%'
	mariadb_file_env MYSQL_DATABASE
	mariadb_file_env MYSQL_USER
	mariadb_file_env MYSQL_PASSWORD
	mariadb_file_env MYSQL_ROOT_PASSWORD

	# Names that differ between the two spellings.
	: "${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:=${MYSQL_ALLOW_EMPTY_PASSWORD:-}}"
	export MYSQL_ALLOW_EMPTY_PASSWORD="$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" MARIADB_ALLOW_EMPTY_ROOT_PASSWORD
	: "${MARIADB_RANDOM_ROOT_PASSWORD:=${MYSQL_RANDOM_ROOT_PASSWORD:-}}"
	export MYSQL_RANDOM_ROOT_PASSWORD="$MARIADB_RANDOM_ROOT_PASSWORD" MARIADB_RANDOM_ROOT_PASSWORD
	: "${MARIADB_INITDB_SKIP_TZINFO:=${MYSQL_INITDB_SKIP_TZINFO:-}}"
	export MYSQL_INITDB_SKIP_TZINFO="$MARIADB_INITDB_SKIP_TZINFO" MARIADB_INITDB_SKIP_TZINFO

	DATABASE_ALREADY_EXISTS=
	if [ -d "$DATADIR/mysql" ]; then
		DATABASE_ALREADY_EXISTS=true
	fi
}

docker_create_db_directories() {
	mkdir -p "$DATADIR"
	if [ "$(id -u)" = 0 ]; then
		# Only what is not the mysql user's yet (a reused volume is left alone).
		find "$DATADIR" \! -user mysql -exec chown mysql:mysql '{}' +
		local sockdir
		sockdir=$(dirname "$SOCKET")
		mkdir -p "$sockdir"
		find "$sockdir" -maxdepth 0 \! -user mysql -exec chown mysql:mysql '{}' \;
	fi
}

docker_verify_minimum_env() {
	if [ -z "$MARIADB_ROOT_PASSWORD" ] && [ -z "$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" ] && [ -z "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
		mysql_error $'Database is uninitialized and password option is not specified\n\tYou need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and MARIADB_RANDOM_ROOT_PASSWORD'
	fi
	if [ "$MARIADB_USER" = root ]; then
		mysql_error $'MARIADB_USER="root", MARIADB_USER and MARIADB_PASSWORD are for configuring a regular user and cannot be used for the root user\n\tRemove MARIADB_USER="root" and use one of the following to control the root user password:\n\t- MARIADB_ROOT_PASSWORD\n\t- MARIADB_ALLOW_EMPTY_ROOT_PASSWORD\n\t- MARIADB_RANDOM_ROOT_PASSWORD'
	fi
	if [ -n "$MARIADB_USER" ] && [ -z "$MARIADB_PASSWORD" ]; then
		mysql_warn "MARIADB_USER ($MARIADB_USER) is set but MARIADB_PASSWORD is not: the user will not be created"
	fi
	if [ -n "$MARIADB_PASSWORD" ] && [ -z "$MARIADB_USER" ]; then
		mysql_warn "MARIADB_PASSWORD is set but MARIADB_USER is not: MARIADB_PASSWORD will be ignored"
	fi
}

# A random password of letters and digits. Read a bounded amount first:
# `tr </dev/urandom | head` dies of SIGPIPE under pipefail.
random_password() {
	local s
	s=$(head -c 512 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9')
	printf '%s' "${s:0:32}"
}

# Escape for a single-quoted SQL string literal.
docker_sql_escape_string_literal() {
	local newline=$'\n'
	local escaped=${1//\\/\\\\}
	escaped="${escaped//$newline/\\n}"
	printf '%s' "${escaped//\'/\\\'}"
}

# Run SQL on the temporary server as root (over its socket). The first
# argument --dont-use-mysql-root-password is for before the password is set.
docker_process_sql() {
	local pw=$MARIADB_ROOT_PASSWORD
	if [ "$1" = --dont-use-mysql-root-password ]; then
		pw=; shift
	fi
	if [ -n "$MARIADB_DATABASE" ]; then
		set -- --database="$MARIADB_DATABASE" "$@"
	fi
	MYSQL_PWD=$pw mariadb --protocol=socket -uroot -hlocalhost --socket="$SOCKET" "$@"
}

docker_init_database_dir() {
	mysql_note "Initializing database files"
	local out
	if ! out=$(mariadb-install-db "${@:2}" --datadir="$DATADIR" --rpm \
			--auth-root-authentication-method=normal --skip-test-db \
			--cross-bootstrap --skip-name-resolve --default-time-zone=SYSTEM \
			--enforce-storage-engine= --skip-log-bin --expire-logs-days=0 \
			--loose-innodb_buffer_pool_load_at_startup=0 \
			--loose-innodb_buffer_pool_dump_at_shutdown=0 2>&1); then
		printf '%s\n' "$out" >&2
		mysql_error "mariadb-install-db failed"
	fi
	mysql_note "Database files initialized"
}

docker_temp_server_start() {
	"$@" --skip-networking --default-time-zone=SYSTEM --socket="$SOCKET" --wsrep_on=OFF \
		--expire-logs-days=0 --skip-slave-start \
		--loose-innodb_buffer_pool_load_at_startup=0 --loose-innodb_buffer_pool_dump_at_shutdown=0 &
	MARIADB_PID=$!
	mysql_note "Waiting for server startup"
	for _ in $(seq 150); do
		if docker_process_sql --dont-use-mysql-root-password --database=mysql <<<'SELECT 1' &>/dev/null; then
			return 0
		fi
		kill -0 "$MARIADB_PID" 2>/dev/null || mysql_error "Unable to start server."
		sleep 0.2
	done
	mysql_error "Unable to start server: no answer after 30 s."
}

docker_temp_server_stop() {
	kill "$MARIADB_PID"
	wait "$MARIADB_PID" || true
}

# The official image's healthcheck user (see /usr/local/bin/healthcheck.sh).
create_healthcheck_users() {
	local pass passEscaped host
	pass=$(random_password)
	passEscaped=$(docker_sql_escape_string_literal "$pass")
	for host in 127.0.0.1 ::1 localhost; do
		echo "CREATE USER IF NOT EXISTS healthcheck@'$host' IDENTIFIED BY '$passEscaped';"
		echo "SET PASSWORD FOR healthcheck@'$host' = PASSWORD('$passEscaped');"
		echo "GRANT USAGE ON *.* TO healthcheck@'$host';"
	done
	(umask 0077; printf '[mariadb-client]\nport=%s\nsocket=%s\nuser=healthcheck\npassword=%s\n' \
		"$PORT" "$SOCKET" "$pass" >"$DATADIR/.my-healthcheck.cnf")
}

docker_setup_db() {
	if [ -z "$MARIADB_INITDB_SKIP_TZINFO" ]; then
		mariadb-tzinfo-to-sql --skip-write-binlog /usr/share/zoneinfo 2>/dev/null \
			| docker_process_sql --dont-use-mysql-root-password --database=mysql
	fi

	if [ -n "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
		MARIADB_ROOT_PASSWORD=$(random_password)
		export MARIADB_ROOT_PASSWORD MYSQL_ROOT_PASSWORD=$MARIADB_ROOT_PASSWORD
		mysql_note "GENERATED ROOT PASSWORD: $MARIADB_ROOT_PASSWORD"
	fi

	local rootPasswordEscaped rootCreate='' createDatabase='' createUser='' userGrants=''
	rootPasswordEscaped=$(docker_sql_escape_string_literal "$MARIADB_ROOT_PASSWORD")

	# root from anywhere, unless MARIADB_ROOT_HOST says otherwise.
	if [ -n "$MARIADB_ROOT_HOST" ] && [ "$MARIADB_ROOT_HOST" != localhost ]; then
		rootCreate="CREATE USER 'root'@'${MARIADB_ROOT_HOST}' IDENTIFIED BY '${rootPasswordEscaped}';
GRANT ALL ON *.* TO 'root'@'${MARIADB_ROOT_HOST}' WITH GRANT OPTION;
GRANT PROXY ON ''@'%' TO 'root'@'${MARIADB_ROOT_HOST}' WITH GRANT OPTION;"
	fi

	if [ -n "$MARIADB_DATABASE" ]; then
		mysql_note "Creating database ${MARIADB_DATABASE}"
		createDatabase="CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\`;"
	fi

	if [ -n "$MARIADB_USER" ] && [ -n "$MARIADB_PASSWORD" ]; then
		mysql_note "Creating user ${MARIADB_USER}"
		local userPasswordEscaped
		userPasswordEscaped=$(docker_sql_escape_string_literal "$MARIADB_PASSWORD")
		createUser="CREATE USER '$MARIADB_USER'@'%' IDENTIFIED BY '$userPasswordEscaped';"
		if [ -n "$MARIADB_DATABASE" ]; then
			mysql_note "Giving user ${MARIADB_USER} access to schema ${MARIADB_DATABASE}"
			userGrants="GRANT ALL ON \`${MARIADB_DATABASE//_/\\_}\`.* TO '$MARIADB_USER'@'%';"
		fi
	fi

	mysql_note "Securing system users (equivalent to running mysql_secure_installation)"
	docker_process_sql --dont-use-mysql-root-password --database=mysql --binary-mode <<-EOSQL
		SET @orig_sql_log_bin= @@SESSION.SQL_LOG_BIN;
		SET @@SESSION.SQL_LOG_BIN=0;
		SET @@SESSION.SQL_MODE=REPLACE(@@SESSION.SQL_MODE, 'NO_BACKSLASH_ESCAPES', '');
		DELETE FROM mysql.global_priv WHERE user='';
		DROP USER IF EXISTS root@'127.0.0.1', root@'::1';
		EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\'', @@hostname,'\'');
		SET PASSWORD FOR 'root'@'localhost'= PASSWORD('${rootPasswordEscaped}');
		${rootCreate}
		$(create_healthcheck_users)
		SET @@SESSION.SQL_LOG_BIN=@orig_sql_log_bin;
		${createDatabase}
		${createUser}
		${userGrants}
		FLUSH PRIVILEGES;
	EOSQL
}

docker_process_init_files() {
	echo
	local f
	for f; do
		case "$f" in
			*.sh)
				if [ -x "$f" ]; then
					mysql_note "$0: running $f"
					"$f"
				else
					mysql_note "$0: sourcing $f"
					# shellcheck disable=SC1090
					. "$f"
				fi
				;;
			*.sql)     mysql_note "$0: running $f"; docker_process_sql <"$f"; echo ;;
			*.sql.gz)  mysql_note "$0: running $f"; gunzip -c "$f" | docker_process_sql; echo ;;
			*.sql.xz)  mysql_note "$0: running $f"; xzcat "$f" | docker_process_sql; echo ;;
			*.sql.zst) mysql_note "$0: running $f"; zstd -dc "$f" | docker_process_sql; echo ;;
			*)         mysql_warn "$0: ignoring $f" ;;
		esac
		echo
	done
}

docker_mariadb_init() {
	docker_init_database_dir "$@"
	mysql_note "Starting temporary server"
	docker_temp_server_start "$@"
	mysql_note "Temporary server started."
	docker_setup_db
	docker_process_init_files /docker-entrypoint-initdb.d/*
	mysql_note "Stopping temporary server"
	docker_temp_server_stop
	mysql_note "Temporary server stopped"
	echo
	mysql_note "MariaDB init process done. Ready for start up."
	echo
}

_main() {
	# `docker run mariadb --some-option` passes options to mariadbd.
	if [ "${1:0:1}" = - ]; then
		set -- mariadbd "$@"
	fi

	if { [ "$1" = mariadbd ] || [ "$1" = mysqld ]; } && ! mysql_want_help "$@"; then
		mysql_note "Entrypoint script for MariaDB Server $(mariadbd --version | awk '{print $3}') started."
		mysql_check_config "$@"
		docker_setup_env "$@"
		docker_create_db_directories

		if [ "$(id -u)" = 0 ]; then
			mysql_note "Switching to dedicated user 'mysql'"
			export HOME=/var/lib/mysql
			exec setpriv --reuid=mysql --regid=mysql --init-groups "${BASH_SOURCE[0]}" "$@"
		fi

		if [ -z "$DATABASE_ALREADY_EXISTS" ]; then
			docker_verify_minimum_env
			docker_mariadb_init "$@"
		fi
	fi
	exec "$@"
}

_main "$@"
