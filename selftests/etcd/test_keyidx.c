// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_keyidx.c - the sync's endpoint key -> pod IP index (userspace/lib/keyidx.c), printed as
 * TAP: 150,000 endpoint keys go in and come back with their IPs in about 3 MB; updates return
 * the old value; deletes (backward shift) leave every other key findable, checked against a
 * plain array through a long random mix of operations on a crowded table; a clear empties it.
 * Pure userspace: no BPF, no root.
 */
#include <arpa/inet.h>

#include "tap.h"
#include "keyidx.h"

#define N_EP	150000
#define N_REF	700	/* keys of the random mix: 700 of 1024 slots, long runs, wrap-around */
#define N_OPS	200000

static size_t ep_key(unsigned int i, char *buf, size_t size)
{
	return snprintf(buf, size, "/podlane/v1/endpoints/n%u/c%08u/eth0", i % 50, i);
}

static __u64 ep_hash(unsigned int i)
{
	char key[96];
	size_t len = ep_key(i, key, sizeof(key));

	return keyidx_hash(key, len);
}

static __u32 ep_ip(unsigned int i)
{
	return htonl((10U << 24 | 128U << 16) + i + 1);
}

static void test_endpoints(void)
{
	struct keyidx t = KEYIDX_INIT;
	unsigned int i, bad = 0, replaced = 0, wrong_old = 0;
	__u32 v, old;
	bool ok;

	for (i = 0; i < N_EP; i++)
		if (keyidx_set(&t, ep_hash(i), ep_ip(i), NULL))
			bad++;
	for (i = 0; i < N_EP; i++)
		if (!keyidx_get(&t, ep_hash(i), &v) || v != ep_ip(i))
			bad++;
	diag("%u keys: %u slots, %zu bytes", t.n, t.cap, keyidx_bytes(&t));
	report(!bad && t.n == N_EP, "150000 endpoint keys in, each found with its IP");
	report(keyidx_bytes(&t) <= 3 * 1024 * 1024 + 64 * 1024,
	       "150000 keys take at most about 3 MB (12-byte slots, at most 3/4 full)");

	/* An update that changes the IP hands back the old one: the agent removes it. */
	for (i = 0; i < N_EP; i += 3) {
		int r = keyidx_set(&t, ep_hash(i), ep_ip(i) + 1, &old);

		replaced += r == 1;
		wrong_old += old != ep_ip(i);
	}
	report(replaced == (N_EP + 2) / 3 && !wrong_old && t.n == N_EP,
	       "updates replace in place and return the previous IP");

	/* Delete every other key: the rest must stay reachable across the shifted runs. */
	for (i = 0; i < N_EP; i += 2)
		if (!keyidx_del(&t, ep_hash(i), &v) || v != (i % 3 ? ep_ip(i) : ep_ip(i) + 1))
			bad++;
	for (i = 0; i < N_EP; i++) {
		ok = keyidx_get(&t, ep_hash(i), &v);
		if (i % 2 ? !ok || v != (i % 3 ? ep_ip(i) : ep_ip(i) + 1) : ok)
			bad++;
	}
	report(!bad && t.n == N_EP / 2, "deleting half: those gone, the other half intact");
	report(!keyidx_del(&t, ep_hash(0), NULL) && !keyidx_del(&t, ep_hash(N_EP + 1), NULL) &&
	       t.n == N_EP / 2, "deleting an absent key changes nothing");

	keyidx_clear(&t);
	for (i = 0, ok = true; i < N_EP; i++)
		ok = ok && !keyidx_get(&t, ep_hash(i), NULL);
	report(ok && !t.n && t.cap, "a clear empties the index and keeps its memory");
	keyidx_free(&t);
}

/* A deterministic xorshift: the same mix of operations on every run. */
static __u32 rnd(void)
{
	static __u32 x = 2463534242U;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return x;
}

static void test_random_mix(void)
{
	static __u32 ref[N_REF];	/* 0 = absent */
	static bool have[N_REF];
	struct keyidx t = KEYIDX_INIT;
	unsigned int i, k, bad = 0, present = 0;
	__u64 h[N_REF];
	__u32 v, old;

	for (i = 0; i < N_REF; i++) {
		/* Short keys differing in one byte: the worst case for a weak hash. */
		char key[8];

		snprintf(key, sizeof(key), "k%u", i);
		h[i] = keyidx_hash(key, strlen(key));
	}
	for (i = 0; i < N_OPS; i++) {
		k = rnd() % N_REF;
		switch (rnd() % 3) {
		case 0:
		case 1: {
			__u32 val = rnd() | 1;
			int r = keyidx_set(&t, h[k], val, &old);

			if (r != (have[k] ? 1 : 0) || (have[k] && old != ref[k]))
				bad++;
			present += !have[k];
			have[k] = true;
			ref[k] = val;
			break;
		}
		case 2:
			if (keyidx_del(&t, h[k], &v) != have[k] || (have[k] && v != ref[k]))
				bad++;
			present -= have[k];
			have[k] = false;
			break;
		}
		/* Every so often all keys, not only the one touched. */
		if (i % 1000 == 0)
			for (k = 0; k < N_REF; k++)
				if (keyidx_get(&t, h[k], &v) != have[k] || (have[k] && v != ref[k]))
					bad++;
	}
	diag("random mix: %u ops, %u keys present at the end in %u slots", N_OPS, t.n, t.cap);
	report(!bad && t.n == present, "200000 random sets and deletes agree with a plain array");
	keyidx_free(&t);
}

int main(void)
{
	printf("1..7\n");
	test_endpoints();
	test_random_mix();
	return failures ? 1 : 0;
}
