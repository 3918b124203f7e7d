// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_lb_maglev.c - the service LB's selection tables from userspace/lib/maglev.c, written
 * with kselftest_harness.h: Maglev tables are complete, balanced, respect weights and move
 * about 1/N of their entries when one of N backends goes away or comes back; the alias columns
 * give every backend exactly its weighted probability. Pure userspace: no BPF, no root.
 */
#include <math.h>

#include "kselftest_harness.h"
#include "testlib.h"
#include "maglev.h"

#define M	PODLANE_MAGLEV_M
#define MAX_N	64

/* Backend identities as the agent would use them: 10.244.<i/256>.<i%256>:8080. */
static __u64 backend_key(unsigned int i)
{
	return (__u64)(0x0af40000U | i) << 16 | 8080;
}

static int build(const unsigned int *ids, const __u32 *weights, unsigned int n, __u32 *table)
{
	struct maglev_backend b[MAX_N] = {};
	unsigned int i;

	for (i = 0; i < n; i++) {
		b[i].key = backend_key(ids[i]);
		b[i].weight = weights ? weights[i] : 1;
	}
	return maglev_build(b, n, table, M);
}

/* Entries per backend index; false when an entry holds no valid index. */
static bool shares(const __u32 *table, unsigned int n, unsigned int *count)
{
	unsigned int i;

	memset(count, 0, n * sizeof(*count));
	for (i = 0; i < M; i++) {
		if (table[i] >= n)
			return false;
		count[table[i]]++;
	}
	return true;
}

/*
 * Remove backend `gone` of n (equal weights) and measure what moved: every entry the removed
 * backend owned must move (minimal = its share); entries of survivors that moved anyway are
 * the excess. Returns the fraction of the table that changed owner.
 */
static double removal_churn(unsigned int n, unsigned int gone, double *excess)
{
	static __u32 before[M], after[M];
	unsigned int ids[MAX_N], kept[MAX_N], i, j, changed = 0, extra = 0;

	for (i = 0; i < n; i++)
		ids[i] = i;
	for (i = 0, j = 0; i < n; i++)
		if (i != gone)
			kept[j++] = i;
	if (build(ids, NULL, n, before) || build(kept, NULL, n - 1, after))
		return 1.0;
	for (i = 0; i < M; i++) {
		unsigned int owner_before = ids[before[i]], owner_after = kept[after[i]];

		if (owner_before != owner_after) {
			changed++;
			if (owner_before != gone)
				extra++;
		}
	}
	*excess = (double)extra / M;
	return (double)changed / M;
}

/* No state: the fixtures only name the two families of tests. */
FIXTURE(maglev) {};
FIXTURE_SETUP(maglev) {}
FIXTURE_TEARDOWN(maglev) {}
FIXTURE(alias) {};
FIXTURE_SETUP(alias) {}
FIXTURE_TEARDOWN(alias) {}

TEST_F(maglev, podlane_maglev_m_is_a_usable_prime)
{
	EXPECT_TRUE(maglev_size_ok(PODLANE_MAGLEV_M));
}

TEST_F(maglev, table_sizes_odd_primes_only)
{
	EXPECT_FALSE(maglev_size_ok(4092));
	EXPECT_FALSE(maglev_size_ok(4095));
	EXPECT_FALSE(maglev_size_ok(1));
	EXPECT_FALSE(maglev_size_ok(2));
	EXPECT_TRUE(maglev_size_ok(65537));
	EXPECT_TRUE(maglev_size_ok(1021));
	EXPECT_TRUE(maglev_size_ok(16381));
}

TEST_F(maglev, all_weights_0_is_einval)
{
	static __u32 table[M];
	struct maglev_backend b = { .key = 1, .weight = 0 };

	EXPECT_EQ(-EINVAL, maglev_build(&b, 1, table, M));
}

TEST_F(maglev, no_backends_is_einval)
{
	static __u32 table[M];
	struct maglev_backend b = { .key = 1, .weight = 0 };

	EXPECT_EQ(-EINVAL, maglev_build(&b, 0, table, M));
}

TEST_F(maglev, non_prime_size_is_einval)
{
	static __u32 table[M];
	struct maglev_backend b = { .key = 1, .weight = 1 };

	EXPECT_EQ(-EINVAL, maglev_build(&b, 1, table, 4092));
}

TEST_F(alias, all_weights_0_is_einval)
{
	__u32 w = 0, keep, alias;

	EXPECT_EQ(-EINVAL, lb_alias_build(&w, 1, &keep, &alias));
}

TEST_F(maglev, equal_weights_1_to_50_backends_complete_and_within_one_entry)
{
	static __u32 table[M];
	unsigned int ids[MAX_N], count[MAX_N], n, i, lo, hi, bad = 0;

	for (i = 0; i < MAX_N; i++)
		ids[i] = i;
	for (n = 1; n <= 50; n += 7) {
		if (build(ids, NULL, n, table) || !shares(table, n, count)) {
			bad++;
			TH_LOG("n=%u: table incomplete", n);
			continue;
		}
		lo = hi = count[0];
		for (i = 1; i < n; i++) {
			lo = count[i] < lo ? count[i] : lo;
			hi = count[i] > hi ? count[i] : hi;
		}
		/* Equal weights take turns: shares differ by one entry at most. */
		if (hi - lo > 1) {
			bad++;
			TH_LOG("n=%u: shares %u..%u", n, lo, hi);
		}
	}
	EXPECT_EQ(0, bad);
}

TEST_F(maglev, same_input_same_table)
{
	static __u32 table[M], again[M];
	unsigned int ids[MAX_N], i;

	for (i = 0; i < MAX_N; i++)
		ids[i] = i;
	ASSERT_EQ(0, build(ids, NULL, 10, table));
	ASSERT_EQ(0, build(ids, NULL, 10, again));
	EXPECT_EQ(0, memcmp(table, again, sizeof(table)));
}

TEST_F(maglev, removing_1_of_n_moves_at_most_1_6_over_n_and_1_5_over_n_on_average)
{
	static const unsigned int sizes[] = { 3, 5, 10, 20, 50 };
	double churn, excess, worst_ratio = 0, worst_excess = 0;
	unsigned int s, gone, bad = 0;

	for (s = 0; s < ARRAY_SIZE(sizes); s++) {
		unsigned int n = sizes[s];
		double sum = 0, sum_excess = 0;

		for (gone = 0; gone < n; gone++) {
			churn = removal_churn(n, gone, &excess);
			sum += churn;
			sum_excess += excess;
			/*
			 * One backend's share (1/N) has to move. Maglev moves a little more:
			 * bound any single removal at 1.6/N (tables are deterministic).
			 */
			if (churn > 1.6 / n) {
				bad++;
				TH_LOG("n=%u remove %u: %.2f%% moved (1/N = %.2f%%)", n, gone,
				       100 * churn, 100.0 / n);
			}
			if (churn * n > worst_ratio)
				worst_ratio = churn * n;
			if (excess > worst_excess)
				worst_excess = excess;
		}
		tl_log("n=%2u: removing one backend moves %.2f%% of the table on average "
		       "(1/N = %.2f%%; survivors' entries moved: %.2f%%)", n, 100 * sum / n,
		       100.0 / n, 100 * sum_excess / n);
		if (sum / n > 1.5 / n) {
			bad++;
			TH_LOG("n=%u: %.2f%% moved on average", n, 100 * sum / n);
		}
	}
	tl_log("worst single removal: %.3f x 1/N moved, %.2f%% of the table moved between "
	       "survivors", worst_ratio, 100 * worst_excess);
	EXPECT_EQ(0, bad);
}

/* Coming back is the mirror image: the returning backend takes about 1/N back. */
TEST_F(maglev, adding_the_10th_backend_moves_at_most_1_5_over_n)
{
	static __u32 small[M], full[M];
	unsigned int ids[10] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, i, changed = 0;

	ASSERT_EQ(0, build(ids, NULL, 9, small));
	ASSERT_EQ(0, build(ids, NULL, 10, full));
	for (i = 0; i < M; i++)
		changed += ids[small[i]] != ids[full[i]];
	tl_log("adding a 10th backend moves %.2f%% of the table", 100.0 * changed / M);
	EXPECT_LE(changed, 1.5 * M / 10);
}

TEST_F(maglev, weights_1_2_3_4_0_10_give_shares_within_0_2_percent_of_weight_over_sum)
{
	static const __u32 w[] = { 1, 2, 3, 4, 0, 10 };
	unsigned int ids[ARRAY_SIZE(w)], count[ARRAY_SIZE(w)], i, total = 0;
	static __u32 table[M];

	for (i = 0; i < ARRAY_SIZE(w); i++) {
		ids[i] = i;
		total += w[i];
	}
	ASSERT_EQ(0, build(ids, w, ARRAY_SIZE(w), table));
	ASSERT_TRUE(shares(table, ARRAY_SIZE(w), count));
	for (i = 0; i < ARRAY_SIZE(w); i++) {
		double want = (double)w[i] / total, got = (double)count[i] / M;

		tl_log("weight %2u: %4u entries, %.3f of the table (want %.3f)", w[i], count[i],
		       got, want);
		EXPECT_LE(fabs(got - want), 0.002) TH_LOG("weight %u", w[i]);
	}
}

/* Exact probability of each slot under the alias columns, against weight / sum. */
static bool alias_exact(const __u32 *w, unsigned int n)
{
	__u32 keep[MAX_N], alias[MAX_N];
	double p[MAX_N] = {}, total = 0;
	unsigned int i;

	if (lb_alias_build(w, n, keep, alias))
		return false;
	for (i = 0; i < n; i++) {
		double k = keep[i] == PODLANE_ALIAS_KEEP_ALL ? 1.0 : keep[i] / 4294967296.0;

		if (alias[i] >= n)
			return false;
		p[i] += k / n;
		p[alias[i]] += (1 - k) / n;
		total += w[i];
	}
	for (i = 0; i < n; i++) {
		if (fabs(p[i] - w[i] / total) > 1e-6) {
			tl_log("n=%u slot %u: probability %.6f, want %.6f", n, i, p[i],
			       w[i] / total);
			return false;
		}
	}
	return true;
}

TEST_F(alias, equal_weights_keep_every_slot_one_lookup_no_coin)
{
	static const __u32 a[] = { 1, 1, 1, 1 };
	__u32 keep[4], alias[4];
	unsigned int i;

	ASSERT_EQ(0, lb_alias_build(a, 4, keep, alias));
	for (i = 0; i < 4; i++) {
		EXPECT_EQ(PODLANE_ALIAS_KEEP_ALL, keep[i]);
		EXPECT_EQ(i, alias[i]);
	}
}

TEST_F(alias, slot_probabilities_equal_weight_over_sum_1_2_3_4_zeros_10e6_1_1)
{
	static const __u32 b[] = { 1, 2, 3, 4 };
	static const __u32 c[] = { 0, 5, 0, 1, 100 };
	static const __u32 d[] = { 1000000, 1, 1 };

	EXPECT_TRUE(alias_exact(b, 4));
	EXPECT_TRUE(alias_exact(c, 5));
	EXPECT_TRUE(alias_exact(d, 3));
}

TEST_F(alias, 64_backends_with_mixed_weights_are_exact)
{
	__u32 big[MAX_N];
	unsigned int i;

	for (i = 0; i < MAX_N; i++)
		big[i] = 1 + (i * 7919) % 97;
	EXPECT_TRUE(alias_exact(big, MAX_N));
}

TEST_HARNESS_MAIN
