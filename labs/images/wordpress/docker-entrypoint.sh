#!/bin/bash
# docker-entrypoint.sh of the handson wordpress image. Before Apache starts:
# make sure /var/www/html/wp-content exists (an empty volume or bind mount
# gets the skeleton, as the official image copies WordPress in), write the
# site's random salts once, and wait for the database (see
# wordpress-wait-for-db: fails at once on a refused login).
set -Eeuo pipefail

if [[ "$1" == apache2* ]]; then
	html=/var/www/html
	if [ ! -e "$html/wp-content" ]; then
		echo >&2 "WordPress content not found in $html - copying now..."
		cp -a /var/lib/wordpress/wp-content "$html/wp-content"
		echo >&2 "Complete! WordPress content has been copied to $html/wp-content"
	fi
	if [ "$(id -u)" = 0 ]; then
		find "$html/wp-content" -maxdepth 1 \! -user www-data -exec chown -h www-data:www-data '{}' +
	fi

	if [ ! -s "$html/wp-salts.php" ]; then
		{
			echo '<?php // random salts of this site, written by docker-entrypoint.sh'
			echo 'return array('
			for name in AUTH_KEY SECURE_AUTH_KEY LOGGED_IN_KEY NONCE_KEY AUTH_SALT SECURE_AUTH_SALT LOGGED_IN_SALT NONCE_SALT; do
				# A bounded read first: `tr </dev/urandom | head` dies of SIGPIPE under pipefail.
				s=$(head -c 1024 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9!#%()*+,-.:;<=>?@[]^_{|}~')
				printf "\t'%s' => '%s',\n" "$name" "${s:0:64}"
			done
			echo ');'
		} >"$html/wp-salts.php.tmp"
		chmod 640 "$html/wp-salts.php.tmp"
		chown root:www-data "$html/wp-salts.php.tmp" 2>/dev/null || true
		mv "$html/wp-salts.php.tmp" "$html/wp-salts.php"
	fi

	# In the background so that `docker stop` (SIGWINCH) works while waiting.
	rc=0
	wordpress-wait-for-db &
	waiter=$!
	trap 'kill "$waiter" 2>/dev/null; exit 143' TERM INT WINCH
	wait "$waiter" || rc=$?
	trap - TERM INT WINCH
	case $rc in
		0) ;;
		2) echo >&2 "wordpress: starting Apache anyway; pages say \"Error establishing a database connection\" until the database answers" ;;
		*) exit "$rc" ;;
	esac
fi

exec "$@"
