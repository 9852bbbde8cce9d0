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
