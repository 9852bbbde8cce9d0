// SPDX-License-Identifier: GPL-2.0
/*
 * Classic BPF (what libpcap compiles a filter expression to) translated into an eBPF program
 * for the XDP or the tc hook, with the semantics of libpcap's interpreter: A and X are 32-bit,
 * the scratch memory M[16] is on the stack, a load past the end of the frame ends the program
 * with "no match", as does a division by zero. Packet loads read the linear part directly and
 * fall back to bpf_xdp_load_bytes()/bpf_skb_load_bytes() past it, so that a multi-buffer or
 * non-linear frame is judged whole.
 *
 * Registers: r6 the context, r7 A, r8 X, r9 the per-CPU struct xs_expr_scratch. Stack: the
 * helper's buffer at fp-8, a map key at fp-16, the loop budget at fp-24, M[i] at fp-128+4*i.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/if_packet.h>

#include "capture/expr.h"
#include "log.h"
#include "xdp_sniff/counters.h"
#include "xdp_sniff/event.h"

#define R_CTX BPF_REG_6
#define R_A BPF_REG_7
#define R_X BPF_REG_8
#define R_SCR BPF_REG_9
#define OFF_BUF (-8)
#define OFF_KEY (-16)
#define OFF_LOOPS (-24)
#define OFF_MEM(i) (-128 + 4 * (i))

/* The most turns of a backward jump: the IPv6 headers protochain follows (libpcap's
 * interpreter follows any number; a chain longer than this does not match) */
#define EXPR_MAX_LOOPS 32

/* eBPF jumps are 16-bit: past this many instructions a jump may not reach its target */
#define EXPR_MAX_EBPF 32000

/* Where a jump goes: a classic instruction, or one of the exits. */
enum { T_INSN, T_REJECT, T_ACCEPT, T_PASS };

struct fixup {
	unsigned int at;	/* the jump instruction */
	int kind;		/* T_* */
	unsigned int insn;	/* T_INSN: the classic instruction */
};

struct emitter {
	struct bpf_insn *buf;
	unsigned int n, cap;
	struct fixup *fix;
	unsigned int nfix, capfix;
	int err;
};

static void put(struct emitter *e, struct bpf_insn i)
{
	if (e->err)
		return;
	if (e->n == e->cap) {
		unsigned int cap = e->cap ? e->cap * 2 : 256;
		struct bpf_insn *b = realloc(e->buf, cap * sizeof(*b));

		if (!b) {
			e->err = -ENOMEM;
			return;
		}
		e->buf = b;
		e->cap = cap;
	}
	e->buf[e->n++] = i;
}

static struct bpf_insn ins(__u8 code, __u8 dst, __u8 src, __s16 off, __s32 imm)
{
	struct bpf_insn i = { .code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm };

	return i;
}

#define ALU32_IMM(op, d, k) ins(BPF_ALU | (op) | BPF_K, d, 0, 0, k)
#define ALU32_REG(op, d, s) ins(BPF_ALU | (op) | BPF_X, d, s, 0, 0)
#define ALU64_IMM(op, d, k) ins(BPF_ALU64 | (op) | BPF_K, d, 0, 0, k)
#define ALU64_REG(op, d, s) ins(BPF_ALU64 | (op) | BPF_X, d, s, 0, 0)
#define MOV64(d, s) ALU64_REG(BPF_MOV, d, s)
#define LDX(sz, d, s, off) ins(BPF_LDX | (sz) | BPF_MEM, d, s, off, 0)
#define STX(sz, d, s, off) ins(BPF_STX | (sz) | BPF_MEM, d, s, off, 0)
#define ST(sz, d, off, k) ins(BPF_ST | (sz) | BPF_MEM, d, 0, off, k)
#define CALL(fn) ins(BPF_JMP | BPF_CALL, 0, 0, 0, fn)
#define EXIT() ins(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

/* A jump to a target resolved at the end; code is the whole opcode. */
static void jump_to(struct emitter *e, struct bpf_insn j, int kind, unsigned int insn)
{
	if (e->err)
		return;
	if (e->nfix == e->capfix) {
		unsigned int cap = e->capfix ? e->capfix * 2 : 64;
		struct fixup *f = realloc(e->fix, cap * sizeof(*f));

		if (!f) {
			e->err = -ENOMEM;
			return;
		}
		e->fix = f;
		e->capfix = cap;
	}
	e->fix[e->nfix++] = (struct fixup){ .at = e->n, .kind = kind, .insn = insn };
	put(e, j);
}

static void ja(struct emitter *e, int kind, unsigned int insn)
{
	jump_to(e, ins(BPF_JMP | BPF_JA, 0, 0, 0, 0), kind, insn);
}

/* A jump forward within the code being emitted: returns its index, for here() to patch. */
static unsigned int jump_fwd(struct emitter *e, struct bpf_insn j)
{
	put(e, j);
	return e->n - 1;
}

static void here(struct emitter *e, unsigned int at)
{
	if (!e->err)
		e->buf[at].off = e->n - at - 1;
}

static void ld_map_fd(struct emitter *e, __u8 dst, int fd)
{
	put(e, ins(BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd));
	put(e, ins(0, 0, 0, 0, 0));
}

static __u8 size_code(unsigned int sz)
{
	return sz == 4 ? BPF_W : sz == 2 ? BPF_H : BPF_B;
}

/*
 * dst = sz bytes of the frame at k (abs) or X + k (ind), in host order; a load past the end
 * of the frame rejects it. libpcap's interpreter takes X + k without wrapping: an offset of
 * 2^31 or more is past any frame.
 */
static void emit_load(struct emitter *e, bool xdp, bool ind, __u32 k, unsigned int sz, __u8 dst)
{
	__s16 data = xdp ? offsetof(struct xdp_md, data) : offsetof(struct __sk_buff, data);
	__s16 data_end = xdp ? offsetof(struct xdp_md, data_end)
			     : offsetof(struct __sk_buff, data_end);
	unsigned int to_slow = 0, to_slow2, to_done;
	bool fast = true;

	if (k >= 0x80000000u) {
		ja(e, T_REJECT, 0);
		return;
	}
	if (ind) {
		/* r2 = X + k, 64-bit: no wrap */
		put(e, MOV64(BPF_REG_2, R_X));
		if (k)
			put(e, ALU64_IMM(BPF_ADD, BPF_REG_2, k));
		to_slow = jump_fwd(e, ins(BPF_JMP | BPF_JGT | BPF_K, BPF_REG_2, 0, 0, 0xffff - sz));
	} else if (k > 0xffff - sz) {
		fast = false;
	}
	if (fast) {
		put(e, LDX(BPF_W, BPF_REG_3, R_CTX, data));
		put(e, LDX(BPF_W, BPF_REG_4, R_CTX, data_end));
		if (ind)
			put(e, ALU64_REG(BPF_ADD, BPF_REG_3, BPF_REG_2));
		else if (k)
			put(e, ALU64_IMM(BPF_ADD, BPF_REG_3, k));
		put(e, MOV64(BPF_REG_5, BPF_REG_3));
		put(e, ALU64_IMM(BPF_ADD, BPF_REG_5, sz));
		to_slow2 = jump_fwd(e, ins(BPF_JMP | BPF_JGT | BPF_X, BPF_REG_5, BPF_REG_4, 0, 0));
		put(e, LDX(size_code(sz), dst, BPF_REG_3, 0));
		to_done = jump_fwd(e, ins(BPF_JMP | BPF_JA, 0, 0, 0, 0));
		if (ind)
			here(e, to_slow);
		here(e, to_slow2);
	}
	/* past the linear part: the helper reads fragments too, and fails past the end */
	if (ind) {
		/* past 4 GiB no helper offset reaches */
		put(e, MOV64(BPF_REG_1, BPF_REG_2));
		put(e, ALU64_IMM(BPF_RSH, BPF_REG_1, 32));
		jump_to(e, ins(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_1, 0, 0, 0), T_REJECT, 0);
	} else {
		put(e, ALU32_IMM(BPF_MOV, BPF_REG_2, k));
	}
	put(e, MOV64(BPF_REG_1, R_CTX));
	put(e, MOV64(BPF_REG_3, BPF_REG_10));
	put(e, ALU64_IMM(BPF_ADD, BPF_REG_3, OFF_BUF));
	put(e, ALU32_IMM(BPF_MOV, BPF_REG_4, sz));
	put(e, CALL(xdp ? BPF_FUNC_xdp_load_bytes : BPF_FUNC_skb_load_bytes));
	jump_to(e, ins(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 0, 0), T_REJECT, 0);
	put(e, LDX(size_code(sz), dst, BPF_REG_10, OFF_BUF));
	if (fast)
		here(e, to_done);
	if (sz > 1)
		put(e, ins(BPF_ALU | BPF_END | BPF_TO_BE, dst, 0, 0, sz * 8));
}

/* dst = the frame's length on the wire (cBPF "len"). */
static void emit_len(struct emitter *e, bool xdp, __u8 dst)
{
	if (!xdp) {
		put(e, LDX(BPF_W, dst, R_CTX, offsetof(struct __sk_buff, len)));
		return;
	}
	/* replay: the capture file may have cut the frame; its length on the wire is passed */
	put(e, MOV64(BPF_REG_1, R_CTX));
	put(e, CALL(BPF_FUNC_xdp_get_buff_len));
	put(e, LDX(BPF_W, BPF_REG_1, R_SCR, offsetof(struct xs_expr_scratch, replay_wire)));
	put(e, ins(BPF_JMP | BPF_JGE | BPF_X, BPF_REG_0, BPF_REG_1, 1, 0));
	put(e, MOV64(BPF_REG_0, BPF_REG_1));
	put(e, ALU32_REG(BPF_MOV, dst, BPF_REG_0));
}

static bool is_ret(__u16 code)
{
	return BPF_CLASS(code) == BPF_RET;
}

/* The classic instructions' own checks, as the kernel's and libpcap's validators make them. */
static int check_cbpf(const struct xs_cbpf *f, unsigned int n, const char **why)
{
	unsigned int i;

	if (!n) {
		*why = "empty program";
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		__u16 c = f[i].code;

		if (BPF_CLASS(c) == BPF_JMP) {
			if (BPF_OP(c) == BPF_JA) {
				/* backward too: libpcap's protochain loops over IPv6 headers */
				__s64 to = (__s64)i + 1 + (__s32)f[i].k;

				if (to < 0 || to >= n) {
					*why = "jump past the end";
					return -EINVAL;
				}
			} else if (i + 1 + f[i].jt >= n || i + 1 + f[i].jf >= n) {
				*why = "jump past the end";
				return -EINVAL;
			}
		}
		if ((BPF_CLASS(c) == BPF_ST || BPF_CLASS(c) == BPF_STX ||
		     ((BPF_CLASS(c) == BPF_LD || BPF_CLASS(c) == BPF_LDX) &&
		      BPF_MODE(c) == BPF_MEM)) &&
		    f[i].k >= BPF_MEMWORDS) {
			*why = "scratch memory index past 15";
			return -EINVAL;
		}
	}
	if (!is_ret(f[n - 1].code) && BPF_CLASS(f[n - 1].code) != BPF_JMP) {
		*why = "the last instruction does not return";
		return -EINVAL;
	}
	return 0;
}

static unsigned int load_size(__u16 code)
{
	switch (BPF_SIZE(code)) {
	case BPF_W:
		return 4;
	case BPF_H:
		return 2;
	case BPF_B:
		return 1;
	default:
		return 0;
	}
}

/* A packet load whose offset is 2^31 or more: past the end of any frame, it ends every run
 * that reaches it (ancillary loads aside). */
static bool load_always_fails(const struct xs_cbpf *p)
{
	__u16 c = p->code;

	if (BPF_CLASS(c) != BPF_LD && BPF_CLASS(c) != BPF_LDX)
		return false;
	if (BPF_MODE(c) != BPF_ABS && BPF_MODE(c) != BPF_IND && BPF_MODE(c) != BPF_MSH)
		return false;
	if (BPF_CLASS(c) == BPF_LD && BPF_MODE(c) == BPF_ABS && p->k >= (__u32)SKF_AD_OFF)
		return false;
	return p->k >= 0x80000000u;
}

/* One classic instruction; -EINVAL/-EOPNOTSUPP with why for one that cannot be taken. */
static int emit_insn(struct emitter *e, const struct xs_cbpf *p, unsigned int i, bool xdp,
		     const char **why)
{
	__u16 c = p->code;
	unsigned int sz;

	/* nothing after it runs (reachable() stops there too) */
	if (load_always_fails(p) && (BPF_MODE(c) == BPF_MSH || load_size(c))) {
		if (BPF_MODE(c) == BPF_MSH ? BPF_CLASS(c) != BPF_LDX : BPF_CLASS(c) != BPF_LD)
			goto unknown;
		ja(e, T_REJECT, 0);
		return 0;
	}
	switch (BPF_CLASS(c)) {
	case BPF_LD:
	case BPF_LDX: {
		__u8 dst = BPF_CLASS(c) == BPF_LD ? R_A : R_X;

		switch (BPF_MODE(c)) {
		case BPF_IMM:
			put(e, ALU32_IMM(BPF_MOV, dst, p->k));
			return 0;
		case BPF_MEM:
			put(e, LDX(BPF_W, dst, BPF_REG_10, OFF_MEM(p->k)));
			return 0;
		case BPF_LEN:
			emit_len(e, xdp, dst);
			return 0;
		case BPF_MSH:
			if (BPF_CLASS(c) != BPF_LDX)
				break;
			emit_load(e, xdp, false, p->k, 1, R_X);
			put(e, ALU32_IMM(BPF_AND, R_X, 0xf));
			put(e, ALU32_IMM(BPF_LSH, R_X, 2));
			return 0;
		case BPF_ABS:
		case BPF_IND:
			sz = load_size(c);
			if (BPF_CLASS(c) != BPF_LD || !sz)
				break;
			if (BPF_MODE(c) == BPF_ABS && p->k >= (__u32)SKF_AD_OFF) {
				/* ancillary data: of it libpcap emits the packet type
				 * (inbound/outbound), which the hook knows */
				if (p->k != (__u32)(SKF_AD_OFF + SKF_AD_PKTTYPE)) {
					*why = "it reads ancillary data other than the packet type";
					return -EOPNOTSUPP;
				}
				put(e, ALU32_IMM(BPF_MOV, R_A, xdp ? PACKET_HOST : PACKET_OUTGOING));
				return 0;
			}
			emit_load(e, xdp, BPF_MODE(c) == BPF_IND, p->k, sz, R_A);
			return 0;
		}
		break;
	}
	case BPF_ST:
		put(e, STX(BPF_W, BPF_REG_10, R_A, OFF_MEM(p->k)));
		return 0;
	case BPF_STX:
		put(e, STX(BPF_W, BPF_REG_10, R_X, OFF_MEM(p->k)));
		return 0;
	case BPF_ALU: {
		__u8 op = BPF_OP(c);

		switch (op) {
		case BPF_ADD:
		case BPF_SUB:
		case BPF_MUL:
		case BPF_OR:
		case BPF_AND:
		case BPF_XOR:
		case BPF_LSH:
		case BPF_RSH:
		case BPF_DIV:
		case BPF_MOD:
			break;
		case BPF_NEG:
			put(e, ins(BPF_ALU | BPF_NEG, R_A, 0, 0, 0));
			return 0;
		default:
			*why = "unknown arithmetic instruction";
			return -EINVAL;
		}
		if (BPF_SRC(c) == BPF_X) {
			/* libpcap: a division by zero ends the program, no match */
			if (op == BPF_DIV || op == BPF_MOD)
				jump_to(e, ins(BPF_JMP32 | BPF_JEQ | BPF_K, R_X, 0, 0, 0), T_REJECT, 0);
			put(e, ALU32_REG(op, R_A, R_X));
			return 0;
		}
		if ((op == BPF_DIV || op == BPF_MOD) && !p->k) {
			*why = "division by the constant zero";
			return -EINVAL;
		}
		if ((op == BPF_LSH || op == BPF_RSH) && p->k >= 32) {
			*why = "shift by 32 or more";
			return -EINVAL;
		}
		put(e, ALU32_IMM(op, R_A, p->k));
		return 0;
	}
	case BPF_JMP: {
		__u8 op = BPF_OP(c);

		if (op == BPF_JA) {
			if ((__s32)p->k < 0) {
				/* a loop (protochain): at most EXPR_MAX_LOOPS turns, so that the
				 * verifier sees it end; past them the frame does not match */
				put(e, LDX(BPF_DW, BPF_REG_1, BPF_REG_10, OFF_LOOPS));
				put(e, ALU64_IMM(BPF_SUB, BPF_REG_1, 1));
				put(e, STX(BPF_DW, BPF_REG_10, BPF_REG_1, OFF_LOOPS));
				jump_to(e, ins(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_1, 0, 0, 0), T_REJECT,
					0);
			}
			ja(e, T_INSN, i + 1 + (__s32)p->k);
			return 0;
		}
		if (op != BPF_JEQ && op != BPF_JGT && op != BPF_JGE && op != BPF_JSET) {
			*why = "unknown jump instruction";
			return -EINVAL;
		}
		if (BPF_SRC(c) == BPF_X)
			jump_to(e, ins(BPF_JMP32 | op | BPF_X, R_A, R_X, 0, 0), T_INSN, i + 1 + p->jt);
		else
			jump_to(e, ins(BPF_JMP32 | op | BPF_K, R_A, 0, 0, p->k), T_INSN, i + 1 + p->jt);
		if (p->jf)
			ja(e, T_INSN, i + 1 + p->jf);
		return 0;
	}
	case BPF_RET:
		if (BPF_RVAL(c) == BPF_K) {
			ja(e, p->k ? T_ACCEPT : T_REJECT, 0);
			return 0;
		}
		if (BPF_RVAL(c) == BPF_A) {
			jump_to(e, ins(BPF_JMP32 | BPF_JEQ | BPF_K, R_A, 0, 0, 0), T_REJECT, 0);
			ja(e, T_ACCEPT, 0);
			return 0;
		}
		break;
	case BPF_MISC:
		if (BPF_MISCOP(c) == BPF_TAX) {
			put(e, ALU32_REG(BPF_MOV, R_X, R_A));
			return 0;
		}
		if (BPF_MISCOP(c) == BPF_TXA) {
			put(e, ALU32_REG(BPF_MOV, R_A, R_X));
			return 0;
		}
		break;
	}
unknown:
	*why = "unknown instruction";
	return -EINVAL;
}

/* Which instructions a run can reach from the first (check_cbpf() has bounded the jumps).
 * NULL when out of memory. */
static bool *reachable(const struct xs_cbpf *f, unsigned int n)
{
	unsigned int *stack = calloc(n, sizeof(*stack)), top = 0, i;
	bool *r = calloc(n, sizeof(*r));

	if (!stack || !r) {
		free(stack);
		free(r);
		return NULL;
	}
#define VISIT(t)                                                                               \
	do {                                                                                   \
		if (!r[t]) {                                                                   \
			r[t] = true;                                                           \
			stack[top++] = (t);                                                    \
		}                                                                              \
	} while (0)
	VISIT(0);
	while (top) {
		i = stack[--top];
		if (BPF_CLASS(f[i].code) == BPF_RET || load_always_fails(&f[i]))
			continue;
		if (BPF_CLASS(f[i].code) == BPF_JMP && BPF_OP(f[i].code) == BPF_JA) {
			VISIT(i + 1 + (__s32)f[i].k);
		} else if (BPF_CLASS(f[i].code) == BPF_JMP) {
			VISIT(i + 1 + f[i].jt);
			VISIT(i + 1 + f[i].jf);
		} else if (i + 1 < n) {
			VISIT(i + 1);
		}
	}
#undef VISIT
	free(stack);
	return r;
}

int expr_translate(const struct xs_cbpf *f, unsigned int n, int dir, const struct expr_maps *m,
		   struct bpf_insn **out, unsigned int *nout, const char **why)
{
	bool xdp = dir == XS_DIR_INGRESS, mem_used = false, loops = false;
	bool *reach = NULL, to_reject = false, to_accept = false;
	unsigned int *start = NULL, i, reject, accept, pass;
	struct emitter e = {};
	int err;

	*why = "";
	if (n > XS_EXPR_MAX_CBPF) {
		*why = "too many instructions";
		return -E2BIG;
	}
	err = check_cbpf(f, n, why);
	if (err)
		return err;
	start = calloc(n + 1, sizeof(*start));
	if (!start)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (BPF_CLASS(f[i].code) == BPF_LD || BPF_CLASS(f[i].code) == BPF_LDX)
			mem_used |= BPF_MODE(f[i].code) == BPF_MEM;
		if (BPF_CLASS(f[i].code) == BPF_JMP && BPF_OP(f[i].code) == BPF_JA &&
		    (__s32)f[i].k < 0)
			loops = true;
	}

	/* prologue: the context kept, the scratch slot of this CPU and direction looked up */
	put(&e, MOV64(R_CTX, BPF_REG_1));
	put(&e, ST(BPF_W, BPF_REG_10, OFF_KEY, dir));
	ld_map_fd(&e, BPF_REG_1, m->scratch);
	put(&e, MOV64(BPF_REG_2, BPF_REG_10));
	put(&e, ALU64_IMM(BPF_ADD, BPF_REG_2, OFF_KEY));
	put(&e, CALL(BPF_FUNC_map_lookup_elem));
	jump_to(&e, ins(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, 0), T_PASS, 0);
	put(&e, MOV64(R_SCR, BPF_REG_0));
	put(&e, ALU32_IMM(BPF_MOV, R_A, 0));
	put(&e, ALU32_IMM(BPF_MOV, R_X, 0));
	/* libpcap's interpreter starts M[] zeroed too; the verifier wants it written first */
	for (i = 0; mem_used && i < BPF_MEMWORDS; i++)
		put(&e, ST(BPF_W, BPF_REG_10, OFF_MEM(i), 0));
	if (loops)
		put(&e, ST(BPF_DW, BPF_REG_10, OFF_LOOPS, EXPR_MAX_LOOPS + 1));

	/* the verifier refuses code no path reaches: only what the classic program can reach
	 * is emitted, and of the exits only those jumped to */
	reach = reachable(f, n);
	if (!reach) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n && !e.err; i++) {
		start[i] = e.n;
		if (!reach[i])
			continue;
		err = emit_insn(&e, &f[i], i, xdp, why);
		if (err)
			goto out;
	}
	start[n] = e.n;
	for (i = 0; i < e.nfix; i++) {
		to_reject |= e.fix[i].kind == T_REJECT;
		to_accept |= e.fix[i].kind == T_ACCEPT;
	}

	/* no match: counted as filtered, the frame passed on */
	reject = e.n;
	if (!to_reject)
		goto emit_pass;
	put(&e, ST(BPF_W, BPF_REG_10, OFF_KEY, dir));
	ld_map_fd(&e, BPF_REG_1, m->counters);
	put(&e, MOV64(BPF_REG_2, BPF_REG_10));
	put(&e, ALU64_IMM(BPF_ADD, BPF_REG_2, OFF_KEY));
	put(&e, CALL(BPF_FUNC_map_lookup_elem));
	put(&e, ins(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 3, 0));
	put(&e, LDX(BPF_DW, BPF_REG_1, BPF_REG_0, XS_C_FILTERED * 8));
	put(&e, ALU64_IMM(BPF_ADD, BPF_REG_1, 1));
	put(&e, STX(BPF_DW, BPF_REG_0, BPF_REG_1, XS_C_FILTERED * 8));
emit_pass:
	pass = e.n;
	put(&e, ALU64_IMM(BPF_MOV, BPF_REG_0, xdp ? XDP_PASS : 0 /* TC_ACT_OK */));
	put(&e, EXIT());
	/* a match: the verdict left for the main program, which takes the frame on */
	accept = e.n;
	if (!to_accept)
		goto done;
	put(&e, ST(BPF_W, R_SCR, offsetof(struct xs_expr_scratch, state), XS_EXPR_MATCHED));
	put(&e, MOV64(BPF_REG_1, R_CTX));
	ld_map_fd(&e, BPF_REG_2, m->progs);
	put(&e, ALU32_IMM(BPF_MOV, BPF_REG_3, XS_EXPR_CONT));
	put(&e, CALL(BPF_FUNC_tail_call));
	/* the main program is not in its slot: the frame is not captured, and no stale verdict
	 * is left for the next one */
	put(&e, ST(BPF_W, R_SCR, offsetof(struct xs_expr_scratch, state), XS_EXPR_IDLE));
	ja(&e, T_PASS, 0);
done:
	err = e.err;
	if (err)
		goto out;
	if (e.n > EXPR_MAX_EBPF) {
		*why = "too many instructions";
		err = -E2BIG;
		goto out;
	}
	for (i = 0; i < e.nfix; i++) {
		const struct fixup *x = &e.fix[i];
		unsigned int to = x->kind == T_INSN	? start[x->insn]
				  : x->kind == T_REJECT ? reject
				  : x->kind == T_ACCEPT ? accept
							: pass;

		e.buf[x->at].off = (__s16)(to - x->at - 1);
	}
	*out = e.buf;
	*nout = e.n;
	e.buf = NULL;
out:
	free(e.buf);
	free(e.fix);
	free(start);
	free(reach);
	return err;
}

int expr_load(const struct xs_cbpf *f, unsigned int n, int dir, const struct expr_maps *m,
	      char *msg, size_t msg_size)
{
	LIBBPF_OPTS(bpf_prog_load_opts, opts);
	struct bpf_insn *insns = NULL;
	unsigned int cnt = 0;
	const char *why;
	char *log = NULL;
	int fd, err;

	msg[0] = '\0';
	err = expr_translate(f, n, dir, m, &insns, &cnt, &why);
	if (err) {
		snprintf(msg, msg_size, "%s", why);
		return err;
	}
	/* what a prog array asks of the programs it holds: as the main program's section
	 * ("xdp.frags", "tc") sets them */
	if (dir == XS_DIR_INGRESS) {
		opts.prog_flags = BPF_F_XDP_HAS_FRAGS;
		opts.expected_attach_type = BPF_XDP;
	}
	fd = bpf_prog_load(dir == XS_DIR_INGRESS ? BPF_PROG_TYPE_XDP : BPF_PROG_TYPE_SCHED_CLS,
			   dir == XS_DIR_INGRESS ? "xs_expr_xdp" : "xs_expr_tc", "GPL", insns, cnt,
			   &opts);
	if (fd >= 0)
		goto out;
	err = -errno;
	/* again with the verifier's log, for its last word */
	log = calloc(1, 1 << 20);
	if (log) {
		const char *last, *end;

		opts.log_buf = log;
		opts.log_size = 1 << 20;
		opts.log_level = 1;
		fd = bpf_prog_load(dir == XS_DIR_INGRESS ? BPF_PROG_TYPE_XDP
							 : BPF_PROG_TYPE_SCHED_CLS,
				   "xs_expr", "GPL", insns, cnt, &opts);
		if (fd >= 0)
			goto out;
		pr_debug("the verifier's log of the expression program:\n%s", log);
		end = log + strlen(log);
		while (end > log && end[-1] == '\n')
			end--;
		last = end;
		/* the last two lines: the refusal and the count */
		for (int lines = 0; last > log && lines < 2; last--)
			if (last[-1] == '\n' && ++lines == 2)
				break;
		snprintf(msg, msg_size, "%.*s", (int)(end - last), last);
		for (char *s = msg; *s; s++)
			if (*s == '\n')
				*s = ' ';
	}
	fd = err;
out:
	free(log);
	free(insns);
	return fd;
}
