<?php
/*
 * /etc/wordpress/config-default.php of the handson wordpress image.
 * Debian's /usr/share/wordpress/wp-config.php loads this file for every
 * host name. Like the official image's wp-config-docker.php it reads the
 * settings from the environment on every request, so `docker run -e ...`
 * is all it takes:
 *   WORDPRESS_DB_HOST (mysql), WORDPRESS_DB_USER (example username),
 *   WORDPRESS_DB_PASSWORD (example password), WORDPRESS_DB_NAME (wordpress),
 *   WORDPRESS_DB_CHARSET (utf8), WORDPRESS_DB_COLLATE, WORDPRESS_TABLE_PREFIX
 *   (wp_), WORDPRESS_DEBUG, WORDPRESS_CONFIG_EXTRA (PHP code), the salts
 *   WORDPRESS_AUTH_KEY ... WORDPRESS_NONCE_SALT, and a _FILE variant of each.
 */

if (!function_exists('getenv_docker')) {
	// getenv_docker(ENV, DEFAULT): ENV_FILE's content, else ENV, else DEFAULT.
	function getenv_docker($env, $default) {
		if ($fileEnv = getenv($env . '_FILE')) {
			return rtrim(file_get_contents($fileEnv), "\r\n");
		} else if (($val = getenv($env)) !== false) {
			return $val;
		} else {
			return $default;
		}
	}
}

define('DB_NAME', getenv_docker('WORDPRESS_DB_NAME', 'wordpress'));
define('DB_USER', getenv_docker('WORDPRESS_DB_USER', 'example username'));
define('DB_PASSWORD', getenv_docker('WORDPRESS_DB_PASSWORD', 'example password'));
define('DB_HOST', getenv_docker('WORDPRESS_DB_HOST', 'mysql'));
define('DB_CHARSET', getenv_docker('WORDPRESS_DB_CHARSET', 'utf8'));
define('DB_COLLATE', getenv_docker('WORDPRESS_DB_COLLATE', ''));

/*
 * Salts: random per site. The entrypoint writes them once into
 * /var/www/html/wp-salts.php (the volume, like the official image's
 * wp-config.php); WORDPRESS_<NAME> overrides each.
 */
$handson_salts = array();
if (is_readable('/var/www/html/wp-salts.php')) {
	$handson_salts = include '/var/www/html/wp-salts.php';
}
foreach (array('AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY',
		'AUTH_SALT', 'SECURE_AUTH_SALT', 'LOGGED_IN_SALT', 'NONCE_SALT') as $handson_name) {
	$handson_default = isset($handson_salts[$handson_name]) ? $handson_salts[$handson_name]
		: hash('sha256', __FILE__ . php_uname('n') . $handson_name);
	define($handson_name, getenv_docker('WORDPRESS_' . $handson_name, $handson_default));
}
unset($handson_salts, $handson_name, $handson_default);

$table_prefix = getenv_docker('WORDPRESS_TABLE_PREFIX', 'wp_');

define('WP_DEBUG', !!getenv_docker('WORDPRESS_DEBUG', ''));

// Content (themes, plugins, uploads) lives in the volume, like the official
// image's /var/www/html/wp-content; the code stays in /usr/share/wordpress.
define('WP_CONTENT_DIR', '/var/www/html/wp-content');

// Behind a TLS-terminating proxy (as in the official image).
if (isset($_SERVER['HTTP_X_FORWARDED_PROTO']) && strpos($_SERVER['HTTP_X_FORWARDED_PROTO'], 'https') !== false) {
	$_SERVER['HTTPS'] = 'on';
}

if ($handson_extra = getenv_docker('WORDPRESS_CONFIG_EXTRA', '')) {
	eval($handson_extra);
}
unset($handson_extra);

/*
 * Differs from the official image: unless WP_HOME / WP_SITEURL are set
 * (e.g. in WORDPRESS_CONFIG_EXTRA), the site's address is taken from each
 * request (X-Forwarded-Host if a proxy sent one, else Host), not only from
 * the request that ran the installer. So one site works at
 * http://127.0.0.1:8080 and through the platform's preview address alike.
 */
if (!empty($_SERVER['HTTP_HOST'])) {
	$handson_host = $_SERVER['HTTP_HOST'];
	if (!empty($_SERVER['HTTP_X_FORWARDED_HOST'])) {
		$handson_host = trim(explode(',', $_SERVER['HTTP_X_FORWARDED_HOST'])[0]);
	}
	$handson_host = preg_replace('/[^A-Za-z0-9.:\[\]-]/', '', $handson_host);
	if ($handson_host !== '') {
		$_SERVER['HTTP_HOST'] = $handson_host;
		$handson_base = ((!empty($_SERVER['HTTPS']) && $_SERVER['HTTPS'] !== 'off') ? 'https' : 'http') . '://' . $handson_host;
		if (!defined('WP_HOME')) {
			define('WP_HOME', $handson_base);
		}
		if (!defined('WP_SITEURL')) {
			define('WP_SITEURL', $handson_base);
		}
		unset($handson_base);
	}
	unset($handson_host);
}
