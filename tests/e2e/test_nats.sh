#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Fleet export into NATS JetStream (--nats, the spool, subscribe) against real nats-server
# processes this script starts on 127.0.0.1, on free ports, with stores in its temporary
# directory. Records come from `replay` of a generated capture where live capture is not the
# point (deterministic, fast); live capture runs in the namespace of lib.sh.
#
# Checked: records identical to -j's lines (replay and 200 live transfers); a broker killed
# for 20 s during a capture and restarted: every record exactly once (by Nats-Msg-Id), in
# order; xdp-sniff SIGKILLed while spooling and restarted: the spooled records arrive, a torn
# spool tail is cut; a full spool drops its oldest records and counts them; bad URL, wrong
# credentials, missing stream: one line, exit 2 (load: before attaching); a 3-node cluster
# (3 replicas) with a node killed and restarted during capture: nothing lost or duplicated;
# with nothing it can do, no thread of xdp-sniff spins.
. "$(dirname "$0")/lib.sh"

e2e_require nats-server python3 curl ss

NSRV=()		# pids of the nats-servers, by the index given to nats_start
SUBJ='xdp-sniff.streams.>'

free_port()
{
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

port_listens()
{
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# nats_start IDX CONF: runs nats-server -c CONF in the background as server IDX.
nats_start()
{
	local idx=$1 conf=$2 port

	port=$(sed -n 's/^listen: 127.0.0.1:\([0-9]*\)$/\1/p' "$conf")
	nats-server -c "$conf" >>"$E2E_TMP/nats-$idx.log" 2>&1 &
	NSRV[$idx]=$!
	# a server restarted by a background event is tracked by the test through this file
	echo "${NSRV[$idx]}" >"$E2E_TMP/nats-$idx.pid"
	e2e_track "${NSRV[$idx]}"
	wait_for 15 port_listens "$port" || { WHY="nats-server $idx did not listen on $port"; return 1; }
}

nats_kill()
{
	local pid

	pid=$(cat "$E2E_TMP/nats-$1.pid")
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
}

# single_conf NAME [extra lines]: a one-node JetStream config on a free port; sets URL.
single_conf()
{
	local name=$1 port

	shift
	port=$(free_port)
	URL=nats://127.0.0.1:$port
	{
		echo "listen: 127.0.0.1:$port"
		echo "server_name: $name"
		echo "jetstream { store_dir: \"$E2E_TMP/store-$name\" }"
		for l in "$@"; do echo "$l"; done
	} >"$E2E_TMP/$name.conf"
	CONF=$E2E_TMP/$name.conf
}

gen_capture()
{
	python3 "$E2E_ROOT/tests/e2e/nats_capture.py" "$@"
}

# sub OUT [ARGS...]: every stream record of the stream so far (until 3 s without one), with
# its id first, into OUT.
sub()
{
	local out=$1

	shift
	"$XS" subscribe "$URL" --subject "$SUBJ" --idle-exit 3 --print-id -o "$out" "$@" \
		2>>"$E2E_TMP/subscribe.err"
}

# check_exact SUBOUT JOUT: the subscriber's lines (id, space, record) hold every -j line
# exactly once, in -j's order, and no id twice.
check_exact()
{
	WHY=$(python3 - "$1" "$2" <<'EOF'
import sys
sub = [l.rstrip('\n').split(' ', 1) for l in open(sys.argv[1])]
want = [l.rstrip('\n') for l in open(sys.argv[2])]
ids = [s[0] for s in sub]
if len(set(ids)) != len(ids):
    print(f'{len(ids) - len(set(ids))} ids twice in {len(ids)} messages'); sys.exit(1)
recs = [s[1] for s in sub]
if len(set(recs)) != len(recs):
    print(f'{len(recs) - len(set(recs))} records twice under different ids'); sys.exit(1)
if recs != want:
    missing = [w for w in want if w not in set(recs)]
    print(f'{len(recs)} records published, {len(want)} from -j, {len(missing)} missing'
          + ('' if missing else ' (order differs)'))
    sys.exit(1)
# ids HOST-EPOCH-RUN-SEQ: seq grows within a run
last = {}
for i in ids:
    h, ep, run, seq = i.rsplit('-', 3)
    k = (h, ep, run)
    if int(seq) <= last.get(k, 0):
        print(f'id {i} after seq {last[k]}: out of order'); sys.exit(1)
    last[k] = int(seq)
EOF
	)
}

lines_are()
{
	[ "$(grep -c . "$1" 2>/dev/null)" -eq "$2" ]
}

one_line_exit2()
{
	local what=$1 rc=$2 err=$3 n

	n=$(grep -c . "$err")
	[ "$rc" -eq 2 ] || { WHY="$what: exit $rc, not 2: $(head -c 300 "$err")"; return 1; }
	[ "$n" -eq 1 ] || { WHY="$what: $n lines on stderr: $(head -c 300 "$err")"; return 1; }
}

t_replay_identical()
{
	local d=$E2E_TMP/ident

	mkdir -p "$d"
	single_conf ident
	nats_start 0 "$CONF" || return 1
	"$XS" replay "$CAP" -j --nats "$URL" --nats-create-stream --nats-payload \
		--nats-max-payload 16M --spool-dir "$d/spool" --host-id h1 >"$d/j.out" 2>"$d/err" ||
		{ WHY="replay --nats failed: $(tail -n 3 "$d/err")"; return 1; }
	[ "$(grep -c . "$d/j.out")" -eq 200 ] || { WHY="-j wrote $(wc -l <"$d/j.out") lines, not 200"; return 1; }
	grep -q '^nats: 200 records, 200 published, 200 acknowledged, 0 duplicates' "$d/err" ||
		{ WHY="summary: $(grep '^nats:' "$d/err")"; return 1; }
	sub "$d/sub.out" || { WHY="subscribe failed: $(tail -n 2 "$E2E_TMP/subscribe.err")"; return 1; }
	check_exact "$d/sub.out" "$d/j.out" || return 1
	cut -d' ' -f2- "$d/sub.out" | cmp -s - "$d/j.out" || { WHY="records differ from -j bytes"; return 1; }
	# a second subscriber on the same durable has nothing left (all acknowledged)
	sub "$d/sub2.out"
	[ ! -s "$d/sub2.out" ] || { WHY="the durable consumer gave $(wc -l <"$d/sub2.out") records again"; return 1; }
	# subjects and headers: the stream's last message of the host's streams subject
	"$XS" subscribe "$URL" --subject "xdp-sniff.streams.h1" --durable other --count 1 \
		--idle-exit 3 >"$d/one.out" 2>/dev/null
	[ "$(grep -c . "$d/one.out")" -eq 1 ] || { WHY="nothing on subject xdp-sniff.streams.h1"; return 1; }
	# without --nats-payload: the same records with empty payloads
	"$XS" replay "$CAP" --nats "$URL" --spool-dir "$d/spool" --host-id h2 -q 2>"$d/err2" ||
		{ WHY="replay without payload failed"; return 1; }
	SUBJ=xdp-sniff.streams.h2 sub "$d/nopay.out" --durable nopay
	python3 - "$d/nopay.out" <<'EOF' || { WHY="records without --nats-payload carry payload"; return 1; }
import json, sys
recs = [json.loads(l.split(' ', 1)[1]) for l in open(sys.argv[1])]
assert len(recs) == 200, len(recs)
assert all(r['inbound'] == '' and r['outbound'] == '' for r in recs)
assert all(r['inbound_info']['data_bytes'] > 0 for r in recs)
EOF
}

t_errors()
{
	local d=$E2E_TMP/errors rc

	mkdir -p "$d"
	single_conf auth "authorization { token: \"s3cret-t0ken\" }"
	nats_start 1 "$CONF" || return 1
	echo wrong-token >"$d/wrong"
	echo s3cret-t0ken >"$d/right"
	chmod 600 "$d/wrong" "$d/right"

	"$XS" replay "$CAP" --nats "$URL" --nats-token-file "$d/wrong" --spool-dir "$d/sp" 2>"$d/e1"
	one_line_exit2 "wrong token" $? "$d/e1" || return 1
	grep -q 'wrong-token\|s3cret' "$d/e1" && { WHY="a token in the message"; return 1; }
	"$XS" replay "$CAP" --nats "$URL" --spool-dir "$d/sp" 2>"$d/e2"
	one_line_exit2 "no token" $? "$d/e2" || return 1
	"$XS" replay "$CAP" --nats "$URL" --nats-token-file "$d/right" --spool-dir "$d/sp" 2>"$d/e3"
	one_line_exit2 "missing stream" $? "$d/e3" || return 1
	grep -q 'stream XDP_SNIFF does not exist' "$d/e3" || { WHY="missing stream: $(cat "$d/e3")"; return 1; }
	"$XS" replay "$CAP" --nats "$URL" --nats-token-file "$d/right" --spool-dir "$d/sp" \
		--nats-create-stream -q 2>"$d/e4"
	rc=$?
	[ "$rc" -eq 0 ] || { WHY="right token: exit $rc: $(cat "$d/e4")"; return 1; }
	"$XS" replay "$CAP" --nats 'nats://127.0.0.1:notaport' --spool-dir "$d/sp" 2>"$d/e5"
	one_line_exit2 "bad URL" $? "$d/e5" || return 1
	"$XS" replay "$CAP" --nats "nats://u:s3cret@127.0.0.1:1" --spool-dir "$d/sp" 2>"$d/e6"
	one_line_exit2 "password in the URL" $? "$d/e6" || return 1
	grep -q s3cret "$d/e6" && { WHY="the password of the URL in the message"; return 1; }
	"$XS" replay "$CAP" --nats "$URL" --nats-creds "$d/nonexistent.creds" --spool-dir "$d/sp" 2>"$d/e7"
	one_line_exit2 "missing creds file" $? "$d/e7" || return 1
	"$XS" replay "$CAP" --nats "${URL/nats:/tls:}" --nats-tls-ca "$d/right" --spool-dir "$d/sp" 2>"$d/e8"
	one_line_exit2 "bad TLS CA" $? "$d/e8" || return 1
	# load: refused before attaching
	"$XS" load "$XS_IF" -p 8080 --nats "$URL" --nats-token-file "$d/wrong" --spool-dir "$d/sp" 2>"$d/e9"
	one_line_exit2 "load with a wrong token" $? "$d/e9" || return 1
	[ ! -e "/sys/fs/bpf/xdp-sniff/$XS_IF" ] || { WHY="load attached before the refusal"; return 1; }
	return 0
}

# xdp-sniff killed (SIGKILL) while its records wait in the spool for a broker that is not
# there; restarted with the broker up: the spooled records arrive before the new run's.
t_sigkill_spooled()
{
	local d=$E2E_TMP/kill pid n seg

	mkdir -p "$d"
	single_conf kill
	"$XS" replay "$CAP" -j --nats "$URL" --nats-payload --nats-max-payload 16M \
		--spool-dir "$d/spool" --host-id hk --nats-drain 600000 >"$d/j1.out" 2>"$d/e1" &
	pid=$!
	e2e_track "$pid"
	wait_for 20 lines_are "$d/j1.out" 200 ||
		{ WHY="the first run did not write its 200 records"; return 1; }
	n=$(grep -c 'no server reachable' "$d/e1")
	[ "$n" -eq 1 ] || { WHY="$n warnings about the broker: $(cat "$d/e1")"; return 1; }
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	# a torn record at the tail, as a crash mid-write leaves it
	seg=$(ls "$d/spool"/*.seg | tail -n 1)
	printf '\x40\x00\x00\x00\x01\x02\x03\x04half' >>"$seg"
	nats_start 2 "$CONF" || return 1
	"$XS" replay "$CAP2" -j --nats "$URL" --nats-create-stream --nats-payload \
		--nats-max-payload 16M --spool-dir "$d/spool" --host-id hk >"$d/j2.out" 2>"$d/e2" ||
		{ WHY="the second run failed: $(tail -n 3 "$d/e2")"; return 1; }
	grep -q 'cut at byte' "$d/e2" || { WHY="the torn tail was not reported cut: $(cat "$d/e2")"; return 1; }
	grep -q '^nats: 200 records, 400 published, 400 acknowledged, 0 duplicates' "$d/e2" ||
		{ WHY="second run: $(grep '^nats:' "$d/e2")"; return 1; }
	cat "$d/j1.out" "$d/j2.out" >"$d/j.out"
	sub "$d/sub.out" || { WHY="subscribe failed"; return 1; }
	check_exact "$d/sub.out" "$d/j.out"
}

t_spool_full()
{
	local d=$E2E_TMP/full dropped left

	mkdir -p "$d"
	single_conf full
	# 200 records with payload (~1 KiB each) into a 64 KiB spool with no broker
	"$XS" replay "$CAP" --nats "$URL" --nats-payload --spool-dir "$d/spool" --spool-max 64K \
		--nats-drain 0 2>"$d/e1"
	[ "$(du -sb "$d/spool" | cut -f1)" -le $((64 * 1024 + 8192)) ] ||
		{ WHY="the spool holds $(du -sb "$d/spool" | cut -f1) bytes"; return 1; }
	dropped=$(sed -n 's/^nats: .*, \([0-9]*\) dropped for spool space.*/\1/p' "$d/e1")
	left=$(sed -n 's/^nats: .*, \([0-9]*\) left in the spool.*/\1/p' "$d/e1")
	[ -n "$dropped" ] && [ "$dropped" -gt 0 ] || { WHY="nothing counted dropped: $(grep '^nats:' "$d/e1")"; return 1; }
	[ $((dropped + left)) -eq 200 ] || { WHY="$dropped dropped + $left left != 200"; return 1; }
	grep -q 'records not acknowledged; they stay in the spool' "$d/e1" ||
		{ WHY="no word of what stays in the spool"; return 1; }
	# what was kept arrives, the newest ones, once the broker is there
	nats_start 3 "$CONF" || return 1
	"$XS" replay "$EMPTY" --nats "$URL" --nats-create-stream --spool-dir "$d/spool" -q 2>"$d/e2" ||
		{ WHY="publishing the spool failed: $(cat "$d/e2")"; return 1; }
	sub "$d/sub.out"
	[ "$(grep -c . "$d/sub.out")" -eq "$left" ] ||
		{ WHY="$(grep -c . "$d/sub.out") records arrived, $left were kept"; return 1; }
	tail -n 1 "$d/sub.out" | grep -q '"source_port":10199,' || { WHY="the newest record is not the last kept"; return 1; }
}

# Live: TRANSFERS curl fetches, one every PACE seconds, while EVENTS run in the background
# (a function name); xdp-sniff load -j --nats URLS throughout. Leaves j.out and err in DIR.
live_run()
{
	local d=$1 transfers=$2 pace=$3 urls=$4 events=$5 evpid= i

	shift 5
	xs_start "$(basename "$d")" "$XS_IF" -p 8080 -j --nats "$urls" --nats-payload \
		--nats-max-payload 16M --spool-dir "$d/spool" --host-id live --nats-timeout 2000 \
		--nats-drain 60000 "$@" || return 1
	if [ -n "$events" ]; then
		$events &
		evpid=$!
	fi
	for i in $(seq "$transfers"); do
		"${CURL[@]}" -o /dev/null "http://$XS_SRV4:8080/f_$((i % 3))" ||
			{ WHY="transfer $i failed"; return 1; }
		sleep "$pace"
	done
	if [ -n "$evpid" ]; then
		wait "$evpid"
		for i in "$E2E_TMP"/nats-*.pid; do e2e_track "$(cat "$i")"; done
	fi
	sleep 1
	xs_stop INT || { WHY="xdp-sniff did not stop"; return 1; }
	cp "$E2E_TMP/$(basename "$d").out" "$d/j.out"
	cp "$E2E_TMP/$(basename "$d").err" "$d/err"
	[ "$XS_RC" -eq 0 ] || { WHY="xdp-sniff exit $XS_RC: $(tail -n 3 "$d/err")"; return 1; }
	[ "$(grep -c . "$d/j.out")" -eq "$transfers" ] ||
		{ WHY="-j wrote $(grep -c . "$d/j.out") records for $transfers transfers"; return 1; }
	grep -q "^nats: $transfers records, .* 0 left in the spool" "$d/err" ||
		{ WHY="summary: $(grep '^nats:' "$d/err")"; return 1; }
}

t_live_200()
{
	local d=$E2E_TMP/live

	mkdir -p "$d"
	single_conf live
	nats_start 4 "$CONF" || return 1
	"$XS" replay "$EMPTY" --nats "$URL" --nats-create-stream --spool-dir "$d/sp0" -q 2>/dev/null ||
		{ WHY="creating the stream failed"; return 1; }
	live_run "$d" 200 0 "$URL" "" || return 1
	sub "$d/sub.out" || { WHY="subscribe failed"; return 1; }
	check_exact "$d/sub.out" "$d/j.out"
}

broker_down_20s()
{
	sleep 4
	nats_kill 5
	sleep 20
	nats_start 5 "$CONF"
}

t_broker_down()
{
	local d=$E2E_TMP/down rc

	mkdir -p "$d"
	single_conf down
	nats_start 5 "$CONF" || return 1
	"$XS" replay "$EMPTY" --nats "$URL" --nats-create-stream --spool-dir "$d/sp0" -q 2>/dev/null ||
		{ WHY="creating the stream failed"; return 1; }
	# ~32 s of transfers, the broker away from 4 s to 24 s
	live_run "$d" 160 0.2 "$URL" broker_down_20s || return 1
	grep -q 'nats: .* [1-9][0-9]* spooled' "$d/err" || { WHY="nothing was spooled: $(grep '^nats:' "$d/err")"; return 1; }
	grep -q ' [1-9][0-9]* reconnects' "$d/err" || { WHY="no reconnect counted"; return 1; }
	sub "$d/sub.out" || { WHY="subscribe failed"; return 1; }
	check_exact "$d/sub.out" "$d/j.out"
}

# The broker stops answering (SIGSTOP) with messages in flight, and comes back 3 s later:
# their PubAcks come too late (--nats-timeout 1000), they are sent again, the server reports
# the copies as duplicates, and every record is still in the stream once.
broker_stalls()
{
	sleep 2
	kill -STOP "$(cat "$E2E_TMP/nats-9.pid")"
	sleep 3
	kill -CONT "$(cat "$E2E_TMP/nats-9.pid")"
}

t_duplicates()
{
	local d=$E2E_TMP/dup n

	mkdir -p "$d"
	single_conf dup
	nats_start 9 "$CONF" || return 1
	"$XS" replay "$EMPTY" --nats "$URL" --nats-create-stream --spool-dir "$d/sp0" -q 2>/dev/null ||
		{ WHY="creating the stream failed"; return 1; }
	live_run "$d" 60 0.1 "$URL" broker_stalls --nats-timeout 1000 || return 1
	n=$(sed -n 's/^nats: .*, \([0-9]*\) duplicates.*/\1/p' "$d/err")
	[ "${n:-0}" -gt 0 ] || { WHY="no duplicate reported: $(grep '^nats:' "$d/err")"; return 1; }
	sub "$d/sub.out" || { WHY="subscribe failed"; return 1; }
	check_exact "$d/sub.out" "$d/j.out"
}

cluster_confs()
{
	local i j p c

	for i in 0 1 2; do
		p[$i]=$(free_port)
		c[$i]=$(free_port)
	done
	for i in 0 1 2; do
		{
			echo "listen: 127.0.0.1:${p[$i]}"
			echo "server_name: c$i"
			echo "jetstream { store_dir: \"$E2E_TMP/store-c$i\" }"
			echo "cluster {"
			echo "  name: xs"
			echo "  listen: 127.0.0.1:${c[$i]}"
			echo -n "  routes: ["
			for j in 0 1 2; do
				[ "$j" -eq "$i" ] || echo -n " \"nats-route://127.0.0.1:${c[$j]}\","
			done
			echo " ]"
			echo "}"
		} >"$E2E_TMP/c$i.conf"
	done
	URL="nats://127.0.0.1:${p[0]},nats://127.0.0.1:${p[1]},nats://127.0.0.1:${p[2]}"
	CURLS=$URL
}

# The node xdp-sniff is connected to goes down for 8 s (its clients fail over to the others).
node_down_up()
{
	local i port victim=1

	sleep 4
	for i in 0 1 2; do
		port=$(sed -n 's/^listen: 127.0.0.1:\([0-9]*\)$/\1/p' "$E2E_TMP/c$i.conf")
		ss -tnp state established "dport = :$port" | grep -q "pid=$XS_PID," && victim=$i
	done
	echo "$victim" >"$E2E_TMP/victim"
	nats_kill $((6 + victim))
	sleep 8
	nats_start $((6 + victim)) "$E2E_TMP/c$victim.conf"
}

t_cluster()
{
	local d=$E2E_TMP/cluster i

	mkdir -p "$d"
	cluster_confs
	for i in 0 1 2; do
		nats_start $((6 + i)) "$E2E_TMP/c$i.conf" || return 1
	done
	# the meta leader takes a moment to be elected
	wait_for 30 "$XS" replay "$EMPTY" --nats "$URL" --nats-create-stream=3 \
		--spool-dir "$d/sp0" -q 2>/dev/null || { WHY="no 3-replica stream in 30 s"; return 1; }
	live_run "$d" 150 0.1 "$URL" node_down_up || return 1
	grep -q ' [1-9][0-9]* reconnects' "$d/err" ||
		{ WHY="no reconnect after node c$(cat "$E2E_TMP/victim") went down"; return 1; }
	sub "$d/sub.out" || { WHY="subscribe failed"; return 1; }
	check_exact "$d/sub.out" "$d/j.out"
}

# Each thread of PID as "TID NS": its time on a CPU plus its time waiting for one (schedstat,
# ns). A thread that spins is runnable all the time, however loaded the
# machine is; one that sleeps is neither.
thread_busy()
{
	local t

	for t in /proc/"$1"/task/*; do
		[ -r "$t/schedstat" ] && echo "${t##*/} $(awk '{print $1 + $2}' "$t/schedstat")"
	done
}

# Waiting with nothing it can do (the broker away, records spooled, waiting out
# --nats-drain), no thread of xdp-sniff spins: each is runnable less than a quarter of 2 s.
t_idle_no_spin()
{
	local d=$E2E_TMP/idle pid worst

	mkdir -p "$d"
	"$XS" replay "$CAP" --nats nats://127.0.0.1:1 --nats-payload --spool-dir "$d/sp" \
		--nats-drain 8000 -q 2>"$d/e1" &
	pid=$!
	e2e_track "$pid"
	wait_for 10 grep -q 'no server reachable' "$d/e1" || { WHY="no warning: $(cat "$d/e1")"; return 1; }
	sleep 1
	thread_busy "$pid" >"$d/b0"
	sleep 2
	thread_busy "$pid" >"$d/b1"
	kill -INT "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	worst=$(awk 'NR == FNR {b[$1] = $2; next} ($1 in b) {d = $2 - b[$1]; if (d > m) m = d} END {print int(m / 1000000)}' \
		"$d/b0" "$d/b1")
	[ -s "$d/b0" ] || { WHY="no schedstat for pid $pid"; return 1; }
	[ "$worst" -lt 500 ] || { WHY="a thread was runnable $worst ms of 2000 with nothing to do"; return 1; }
}

CAP=$E2E_TMP/streams.pcap
EMPTY=$E2E_TMP/empty.pcap
gen_capture "$CAP" 200 || { WHY="cannot write the capture"; e2e_result setup 1; e2e_finish; exit 1; }
gen_capture "$EMPTY" 0
CAP2=$E2E_TMP/streams2.pcap
gen_capture "$CAP2" 200 1
mkdir -p "$E2E_TMP/www"
: >"$E2E_TMP/www/f_0"
head -c 100 /dev/urandom >"$E2E_TMP/www/f_1"
head -c 3000 /dev/urandom >"$E2E_TMP/www/f_2"
if ! e2e_netns_up || ! e2e_http_server 8080 "$E2E_TMP/www"; then
	WHY="setting up the namespace and server failed"
	e2e_result setup 1
	e2e_finish
	exit 1
fi

run_test idle_publisher_does_not_spin t_idle_no_spin
run_test replay_records_identical_to_json t_replay_identical
run_test bad_url_credentials_stream_exit_2 t_errors
run_test sigkill_while_spooling_then_restart t_sigkill_spooled
run_test spool_full_drops_oldest_counted t_spool_full
run_test live_200_transfers_identical t_live_200
run_test broker_down_20s_exactly_once_in_order t_broker_down
run_test broker_stalls_duplicates_dropped t_duplicates
run_test cluster_3_replicas_node_restart t_cluster
e2e_finish
