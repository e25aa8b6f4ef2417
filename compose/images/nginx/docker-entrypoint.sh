#!/bin/sh
# Like the official image: listen on [::]:80 too, but only where the kernel
# has IPv6 (nginx refuses to start on a [::] listener otherwise). A read-only
# or user-supplied config is left alone.
set -e
conf=/etc/nginx/conf.d/default.conf
if [ "$1" = nginx ] && [ -e /proc/net/if_inet6 ] && [ -w "$conf" ]; then
    sed -i 's|^\(\s*\)#listen  \[::\]:80 default_server;.*$|\1listen  [::]:80 default_server;|' "$conf" 2>/dev/null || true
fi
exec "$@"
