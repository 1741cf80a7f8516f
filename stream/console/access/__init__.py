"""Who may use the care-team console, and what they see.

* ``accounts`` — named care-team accounts with scrypt password hashes, their wards and session
  versions, in a file;
* ``account_store`` — that file as the console sees it now (re-read when it changes);
* ``sessions`` — signed, expiring session cookies and CSRF tokens;
* ``throttle`` — failed logins per user name and address, a growing wait;
* ``scope`` — who sees what: an account's wards (pure);
* ``web_auth`` — login, logout, the session middleware, CSRF checks, redirect targets.
"""
