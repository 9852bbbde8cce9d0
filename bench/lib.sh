# SPDX-License-Identifier: GPL-2.0
# Helpers the benchmark scripts share; source it.

# busy ticks of the whole machine (user, nice, system, irq, softirq, steal)
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }

# utime + stime of a pid, in ticks (0 when it is gone)
proc_ticks() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	echo $((${12} + ${13}))
}

# wait_settled PID: until PID has used no CPU for 0.3 s (it has caught up), at most 60 s;
# sets B_SETTLED to the machine's busy ticks when PID last used CPU
wait_settled() {
	local pid=$1 last now same=0
	last=$(proc_ticks "$pid")
	B_SETTLED=$(busy_ticks)
	for _ in $(seq 600); do
		sleep 0.1
		now=$(proc_ticks "$pid")
		if [ "$now" = "$last" ]; then
			same=$((same + 1))
			[ $same -ge 3 ] && return 0
		else
			same=0
			B_SETTLED=$(busy_ticks)
		fi
		last=$now
	done
}

# nginx_conf FILE DIR LISTEN WORKERS: an nginx configuration serving DIR/www on LISTEN
# (ADDR:PORT) in the foreground, everything it writes under DIR
nginx_conf() {
	cat >"$1" <<EOF
daemon off;
worker_processes $4;
pid $2/nginx.pid;
error_log $2/nginx.err;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	client_body_temp_path $2/tmp;
	proxy_temp_path $2/tmp;
	fastcgi_temp_path $2/tmp;
	uwsgi_temp_path $2/tmp;
	scgi_temp_path $2/tmp;
	server { listen $3; root $2/www; }
}
EOF
}

# awk functions for the result tables: add(key, v) collects values, med(key) is their median
AWK_MEDIAN='
function med(key,   n, a, i, j, t) {
	n = split(vals[key], a, " ")
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function add(key, v) { if (key in vals) vals[key] = vals[key] " " v; else vals[key] = v }
'
