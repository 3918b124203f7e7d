// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_keyidx.c - the sync's endpoint key -> pod IP index (userspace/lib/keyidx.c), which
 * resolves etcd delete events (they carry only the key) without asking etcd for the previous
 * values. Written with kselftest_harness.h: 150,000 endpoint keys go in and come back with
 * their IPs in about 3 MB; updates return the old value; deletes (backward shift) leave every
 * other key findable; a clear empties it; a long random mix of operations on a crowded table
 * agrees with a plain array. Pure userspace: no BPF, no root.
 */
#include <arpa/inet.h>

#include "kselftest_harness.h"
#include "testlib.h"
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

/* The index of 150,000 endpoint keys, each set to its IP. */
FIXTURE(endpoints) {
	struct keyidx t;
	unsigned int set_failed;
};

FIXTURE_SETUP(endpoints)
{
	unsigned int i;

	self->t = (struct keyidx)KEYIDX_INIT;
	for (i = 0; i < N_EP; i++)
		if (keyidx_set(&self->t, ep_hash(i), ep_ip(i), NULL))
			self->set_failed++;
	tl_log("%u keys: %u slots, %zu bytes", self->t.n, self->t.cap, keyidx_bytes(&self->t));
}

FIXTURE_TEARDOWN(endpoints)
{
	keyidx_free(&self->t);
}

/* Every third key gets its IP + 1; returns how many sets reported a replacement. */
static unsigned int update_every_third(struct __test_metadata *_metadata, struct keyidx *t)
{
	unsigned int i, replaced = 0, wrong_old = 0;
	__u32 old;

	for (i = 0; i < N_EP; i += 3) {
		int r = keyidx_set(t, ep_hash(i), ep_ip(i) + 1, &old);

		replaced += r == 1;
		wrong_old += old != ep_ip(i);
	}
	EXPECT_EQ(0, wrong_old) TH_LOG("updates handed back a wrong previous IP");
	return replaced;
}

/* The IP key i has after update_every_third(). */
static __u32 ep_ip_now(unsigned int i)
{
	return i % 3 ? ep_ip(i) : ep_ip(i) + 1;
}

/* Delete every even key: the rest must stay reachable across the shifted runs. */
static void delete_half(struct __test_metadata *_metadata, struct keyidx *t)
{
	unsigned int i, bad = 0;
	__u32 v;
	bool ok;

	for (i = 0; i < N_EP; i += 2)
		if (!keyidx_del(t, ep_hash(i), &v) || v != ep_ip_now(i))
			bad++;
	for (i = 0; i < N_EP; i++) {
		ok = keyidx_get(t, ep_hash(i), &v);
		if (i % 2 ? !ok || v != ep_ip_now(i) : ok)
			bad++;
	}
	EXPECT_EQ(0, bad);
	EXPECT_EQ(N_EP / 2, t->n);
}

TEST_F(endpoints, keys_150000_in_each_found_with_its_ip)
{
	unsigned int i, bad = 0;
	__u32 v;

	for (i = 0; i < N_EP; i++)
		if (!keyidx_get(&self->t, ep_hash(i), &v) || v != ep_ip(i))
			bad++;
	EXPECT_EQ(0, self->set_failed);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(N_EP, self->t.n);
}

/* 12-byte slots, at most 3/4 full. */
TEST_F(endpoints, keys_150000_take_at_most_about_3_mb)
{
	EXPECT_LE(keyidx_bytes(&self->t), 3 * 1024 * 1024 + 64 * 1024);
}

/* An update that changes the IP hands back the old one: the agent removes it. */
TEST_F(endpoints, updates_replace_in_place_and_return_the_previous_ip)
{
	EXPECT_EQ((N_EP + 2) / 3, update_every_third(_metadata, &self->t));
	EXPECT_EQ(N_EP, self->t.n);
}

TEST_F(endpoints, deleting_half_those_gone_the_other_half_intact)
{
	ASSERT_EQ(0, self->set_failed);
	update_every_third(_metadata, &self->t);
	delete_half(_metadata, &self->t);
}

TEST_F(endpoints, deleting_an_absent_key_changes_nothing)
{
	ASSERT_EQ(0, self->set_failed);
	update_every_third(_metadata, &self->t);
	delete_half(_metadata, &self->t);
	EXPECT_FALSE(keyidx_del(&self->t, ep_hash(0), NULL));
	EXPECT_FALSE(keyidx_del(&self->t, ep_hash(N_EP + 1), NULL));
	EXPECT_EQ(N_EP / 2, self->t.n);
}

TEST_F(endpoints, a_clear_empties_the_index_and_keeps_its_memory)
{
	unsigned int i, found = 0;

	update_every_third(_metadata, &self->t);
	delete_half(_metadata, &self->t);
	keyidx_clear(&self->t);
	for (i = 0; i < N_EP; i++)
		found += keyidx_get(&self->t, ep_hash(i), NULL);
	EXPECT_EQ(0, found);
	EXPECT_EQ(0, self->t.n);
	EXPECT_NE(0, self->t.cap);
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

TEST(random_sets_and_deletes_200000_agree_with_a_plain_array)
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
	tl_log("random mix: %u ops, %u keys present at the end in %u slots", N_OPS, t.n, t.cap);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(present, t.n);
	keyidx_free(&t);
}

TEST_HARNESS_MAIN
