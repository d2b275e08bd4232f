/*-------------------------------------------------------------------------
 *
 * test_crypto.c
 *		Unit tests of src/crypto.c: AES-256-GCM sealing (round trips, a
 *		known-answer vector, wrong key, tampering, malformed input),
 *		SHA-256, HMAC-SHA256 (RFC 4231 and Zendesk's documented webhook
 *		signature example), base64 and constant-time comparison.  Every
 *		output buffer is exactly as large as the contract says, so that
 *		AddressSanitizer catches a byte written past it.
 *
 * test/unit/test_crypto.c
 *
 *-------------------------------------------------------------------------
 */
#include "harness.h"
#include "crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define countof(a) (sizeof(a) / sizeof((a)[0]))

static const unsigned char key_a[ZD_KEY_LEN] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};
static const unsigned char key_b[ZD_KEY_LEN] = {
	0xff, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};
static const unsigned char nonce_a[ZD_NONCE_LEN] = {
	0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab,
};

#define AAD_API "corsa_zendesk api token"
#define AAD_SIGNING "corsa_zendesk signing secret"

static void
hex_of(const unsigned char *in, size_t len, char *out)
{
	size_t		i;

	for (i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
	out[2 * len] = '\0';
}

/* seal plain_len bytes into an exact-size heap buffer */
static unsigned char *
seal(const unsigned char *key, const char *aad, const unsigned char *plain, size_t plain_len)
{
	unsigned char *sealed = malloc(plain_len + ZD_SEAL_OVERHEAD);

	if (sealed == NULL)
		exit(2);
	if (!zdcrypt_seal(key, nonce_a, aad, plain, plain_len, sealed))
	{
		zt_fail(__FILE__, __LINE__, "zdcrypt_seal failed");
		free(sealed);
		return NULL;
	}
	return sealed;
}

/* open into an exact-size heap buffer (sealed_len - overhead bytes) */
static int
open_exact(const unsigned char *key, const char *aad, const unsigned char *sealed,
		   size_t sealed_len, unsigned char **plain, size_t *plain_len)
{
	size_t		room = sealed_len >= ZD_SEAL_OVERHEAD ? sealed_len - ZD_SEAL_OVERHEAD : 0;
	unsigned char *out = malloc(room > 0 ? room : 1);
	int			rc;

	if (out == NULL)
		exit(2);
	*plain_len = (size_t) -1;
	rc = zdcrypt_open(key, aad, sealed, sealed_len, out, plain_len);
	*plain = out;
	return rc;
}

/* ------------------------------------------------------------------------
 * sealing
 * ------------------------------------------------------------------------
 */

static void
test_key_id(const void *arg)
{
	unsigned char id[ZD_KEY_ID_LEN];
	unsigned char digest[ZD_SHA256_LEN];

	(void) arg;
	zdcrypt_key_id(key_a, id);
	CHECK(zdcrypt_sha256(key_a, ZD_KEY_LEN, digest));
	CHECK_MEM(id, digest, ZD_KEY_ID_LEN);
}

static void
test_round_trip(const void *arg)
{
	size_t		len = (size_t) (uintptr_t) arg;
	unsigned char *plain = calloc(len > 0 ? len : 1, 1);
	unsigned char *sealed;
	unsigned char *opened;
	size_t		opened_len;
	unsigned char id[ZD_KEY_ID_LEN];
	size_t		i;

	REQUIRE(plain != NULL);
	for (i = 0; i < len; i++)
		plain[i] = (unsigned char) (i * 7 + 3);
	sealed = seal(key_a, AAD_API, plain, len);
	if (sealed == NULL)
	{
		free(plain);
		return;
	}
	/* layout: version, key id, nonce, ciphertext, tag */
	CHECK_I64(sealed[0], ZD_SEAL_VERSION);
	zdcrypt_key_id(key_a, id);
	CHECK_MEM(sealed + 1, id, ZD_KEY_ID_LEN);
	CHECK_MEM(sealed + 1 + ZD_KEY_ID_LEN, nonce_a, ZD_NONCE_LEN);
	if (len >= 8)
		CHECK(memcmp(sealed + 1 + ZD_KEY_ID_LEN + ZD_NONCE_LEN, plain, len) != 0);

	CHECK_I64(open_exact(key_a, AAD_API, sealed, len + ZD_SEAL_OVERHEAD, &opened, &opened_len),
			  ZD_OPEN_OK);
	CHECK_I64(opened_len, len);
	if (opened_len == len && len > 0)
		CHECK_MEM(opened, plain, len);
	free(opened);
	free(sealed);
	free(plain);
}

static void
test_round_trip_text(const void *arg)
{
	const char *secret = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==";
	size_t		len = strlen(secret);
	unsigned char *sealed;
	unsigned char *opened;
	size_t		opened_len;

	(void) arg;
	sealed = seal(key_a, AAD_SIGNING, (const unsigned char *) secret, len);
	REQUIRE(sealed != NULL);
	CHECK_I64(open_exact(key_a, AAD_SIGNING, sealed, len + ZD_SEAL_OVERHEAD, &opened, &opened_len),
			  ZD_OPEN_OK);
	CHECK_I64(opened_len, len);
	CHECK(opened_len == len && memcmp(opened, secret, len) == 0);
	free(opened);
	free(sealed);
}

/* NIST GCM spec test case 16 (AES-256, 96-bit IV, with AAD) */
static void
test_gcm_known_answer(const void *arg)
{
	unsigned char key[32];
	unsigned char iv[12];
	unsigned char plain[60];
	unsigned char cipher[60];
	unsigned char tag[16];
	unsigned char aad_bytes[21];
	unsigned char *sealed;
	unsigned char *opened;
	size_t		opened_len;
	char		id_hex[9];

	(void) arg;
	REQUIRE(zt_unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", key, 32) == 32);
	REQUIRE(zt_unhex("cafebabefacedbaddecaf888", iv, 12) == 12);
	REQUIRE(zt_unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
					 "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39", plain, 60) == 60);
	REQUIRE(zt_unhex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
					 "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662", cipher, 60) == 60);
	REQUIRE(zt_unhex("76fc6ece0f4e1768cddf8853bb2d551b", tag, 16) == 16);
	REQUIRE(zt_unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2", aad_bytes, 20) == 20);
	aad_bytes[20] = '\0';		/* the AAD has no zero byte, so it is a C string */

	sealed = malloc(60 + ZD_SEAL_OVERHEAD);
	REQUIRE(sealed != NULL);
	CHECK(zdcrypt_seal(key, iv, (const char *) aad_bytes, plain, 60, sealed));
	CHECK_I64(sealed[0], 1);
	hex_of(sealed + 1, ZD_KEY_ID_LEN, id_hex);
	CHECK_STR(id_hex, "7f70dfd8");	/* SHA-256(key)[0..3] */
	CHECK_MEM(sealed + 5, iv, 12);
	CHECK_MEM(sealed + 17, cipher, 60);
	CHECK_MEM(sealed + 77, tag, 16);

	CHECK_I64(open_exact(key, (const char *) aad_bytes, sealed, 60 + ZD_SEAL_OVERHEAD,
						 &opened, &opened_len), ZD_OPEN_OK);
	CHECK_I64(opened_len, 60);
	if (opened_len == 60)
		CHECK_MEM(opened, plain, 60);
	free(opened);
	free(sealed);
}

static void
test_wrong_key(const void *arg)
{
	static const unsigned char plain[] = "token-1234";
	unsigned char *sealed = seal(key_a, AAD_API, plain, sizeof(plain) - 1);
	unsigned char *opened;
	size_t		opened_len;

	(void) arg;
	REQUIRE(sealed != NULL);
	CHECK_I64(open_exact(key_b, AAD_API, sealed, sizeof(plain) - 1 + ZD_SEAL_OVERHEAD,
						 &opened, &opened_len), ZD_OPEN_WRONG_KEY);
	free(opened);
	free(sealed);
}

typedef struct TamperCase
{
	const char *desc;
	int			where;			/* byte offset to flip; -1: last byte */
	const char *aad;			/* aad to open with */
	int			want;
} TamperCase;

/* 1 version + 4 key id + 12 nonce = 17: the ciphertext starts there */
static const TamperCase tamper_cases[] = {
	{"tampered ciphertext (first byte)", 17, AAD_API, ZD_OPEN_TAMPERED},
	{"tampered ciphertext (last byte)", 17 + 31, AAD_API, ZD_OPEN_TAMPERED},
	{"tampered tag (first byte)", 17 + 32, AAD_API, ZD_OPEN_TAMPERED},
	{"tampered tag (last byte)", -1, AAD_API, ZD_OPEN_TAMPERED},
	{"tampered nonce", 5, AAD_API, ZD_OPEN_TAMPERED},
	{"other aad (a secret swapped for another)", -2, AAD_SIGNING, ZD_OPEN_TAMPERED},
	{"empty aad", -2, "", ZD_OPEN_TAMPERED},
	{"tampered key id", 1, AAD_API, ZD_OPEN_WRONG_KEY},
	{"version byte 2", 0, AAD_API, ZD_OPEN_MALFORMED},
};

static void
test_tamper(const void *arg)
{
	const TamperCase *c = arg;
	unsigned char plain[32];
	size_t		len = sizeof(plain) + ZD_SEAL_OVERHEAD;
	unsigned char *sealed;
	unsigned char *opened;
	size_t		opened_len;

	memset(plain, 'p', sizeof(plain));
	sealed = seal(key_a, AAD_API, plain, sizeof(plain));
	REQUIRE(sealed != NULL);
	if (c->where == -1)
		sealed[len - 1] ^= 0x01;
	else if (c->where == 0)
		sealed[0] = 2;
	else if (c->where > 0)
		sealed[c->where] ^= 0x80;
	CHECK_I64(open_exact(key_a, c->aad, sealed, len, &opened, &opened_len), c->want);
	free(opened);
	free(sealed);
}

static void
test_malformed(const void *arg)
{
	unsigned char plain[8] = "abcdefgh";
	unsigned char *sealed = seal(key_a, AAD_API, plain, sizeof(plain));
	size_t		full = sizeof(plain) + ZD_SEAL_OVERHEAD;
	unsigned char *opened;
	size_t		opened_len;
	size_t		n;
	unsigned char *copy;

	(void) arg;
	REQUIRE(sealed != NULL);
	/* every length below the overhead is malformed (exact-size copies) */
	for (n = 0; n < ZD_SEAL_OVERHEAD; n++)
	{
		copy = (unsigned char *) zt_exact(sealed, n);
		if (open_exact(key_a, AAD_API, copy, n, &opened, &opened_len) != ZD_OPEN_MALFORMED)
			zt_fail(__FILE__, __LINE__, "%zu bytes not MALFORMED", n);
		free(opened);
		free(copy);
	}
	/* a truncated value that is still long enough fails authentication */
	copy = (unsigned char *) zt_exact(sealed, full - 1);
	CHECK_I64(open_exact(key_a, AAD_API, copy, full - 1, &opened, &opened_len), ZD_OPEN_TAMPERED);
	free(opened);
	free(copy);
	/* so does one with a byte appended */
	copy = malloc(full + 1);
	REQUIRE(copy != NULL);
	memcpy(copy, sealed, full);
	copy[full] = 0;
	CHECK_I64(open_exact(key_a, AAD_API, copy, full + 1, &opened, &opened_len), ZD_OPEN_TAMPERED);
	free(opened);
	free(copy);
	/* version 0 */
	sealed[0] = 0;
	CHECK_I64(open_exact(key_a, AAD_API, sealed, full, &opened, &opened_len), ZD_OPEN_MALFORMED);
	free(opened);
	sealed[0] = 0xff;
	CHECK_I64(open_exact(key_a, AAD_API, sealed, full, &opened, &opened_len), ZD_OPEN_MALFORMED);
	free(opened);
	free(sealed);
}

static void
test_nonce_matters(const void *arg)
{
	static const unsigned char plain[16] = "same plaintext!!";
	static const unsigned char nonce_b[ZD_NONCE_LEN] = {1};
	unsigned char s1[16 + ZD_SEAL_OVERHEAD];
	unsigned char s2[16 + ZD_SEAL_OVERHEAD];

	(void) arg;
	CHECK(zdcrypt_seal(key_a, nonce_a, AAD_API, plain, 16, s1));
	CHECK(zdcrypt_seal(key_a, nonce_b, AAD_API, plain, 16, s2));
	CHECK(memcmp(s1 + 17, s2 + 17, 16) != 0);
	/* deterministic for the same nonce */
	CHECK(zdcrypt_seal(key_a, nonce_a, AAD_API, plain, 16, s2));
	CHECK_MEM(s1, s2, sizeof(s1));
}

/* ------------------------------------------------------------------------
 * SHA-256, HMAC, base64, compare
 * ------------------------------------------------------------------------
 */

typedef struct ShaCase
{
	const char *desc;
	const char *input;
	size_t		repeat;			/* input repeated */
	const char *hex;
} ShaCase;

static const ShaCase sha_cases[] = {
	{"\"abc\"", "abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	{"empty", "", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	{"448-bit message", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
	"248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
	{"one million a", "a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
};

static void
test_sha256(const void *arg)
{
	const ShaCase *c = arg;
	size_t		unit = strlen(c->input);
	size_t		len = unit * c->repeat;
	char	   *data = malloc(len > 0 ? len : 1);
	unsigned char digest[ZD_SHA256_LEN];
	char		hex[2 * ZD_SHA256_LEN + 1];
	size_t		i;

	REQUIRE(data != NULL);
	for (i = 0; i < c->repeat; i++)
		memcpy(data + i * unit, c->input, unit);
	CHECK(zdcrypt_sha256(data, len, digest));
	hex_of(digest, sizeof(digest), hex);
	CHECK_STR(hex, c->hex);
	free(data);
}

/* Zendesk's documented example (ZENDESK_API.md section 9.6) */
#define ZD_TEST_SECRET "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
#define ZD_TEST_STAMP "2021-03-25T05:09:27Z"
#define ZD_TEST_BODY "{\"event\":\"ticket.updated\",\"id\":123}"
#define ZD_TEST_SIGNATURE "S/RDdU2ERmj7LHDDoWJ2onPYH+t7/f2+LTM4dL7UiLM="

static void
test_hmac_zendesk_example(const void *arg)
{
	char	   *secret = zt_exact(ZD_TEST_SECRET, strlen(ZD_TEST_SECRET));
	char	   *stamp = zt_exact(ZD_TEST_STAMP, strlen(ZD_TEST_STAMP));
	char	   *body = zt_exact(ZD_TEST_BODY, strlen(ZD_TEST_BODY));
	unsigned char mac[ZD_SHA256_LEN];
	char	   *b64 = malloc(4 * ((ZD_SHA256_LEN + 2) / 3) + 1);	/* 45: exact */
	size_t		n;

	(void) arg;
	REQUIRE(b64 != NULL);
	/* the secret is the key as ASCII bytes, not base64-decoded */
	CHECK(zdcrypt_hmac_sha256(secret, strlen(ZD_TEST_SECRET), stamp, strlen(ZD_TEST_STAMP),
							  body, strlen(ZD_TEST_BODY), mac));
	n = zdcrypt_base64_encode(mac, sizeof(mac), b64);
	CHECK_I64(n, 44);
	CHECK_STR(b64, ZD_TEST_SIGNATURE);
	/* compared as webhook.c does */
	CHECK(n == strlen(ZD_TEST_SIGNATURE) && zdcrypt_equal(ZD_TEST_SIGNATURE, b64, n));
	free(b64);
	free(body);
	free(stamp);
	free(secret);
}

static void
test_hmac_split(const void *arg)
{
	const char *all = ZD_TEST_STAMP ZD_TEST_BODY;
	unsigned char mac1[ZD_SHA256_LEN];
	unsigned char mac2[ZD_SHA256_LEN];
	unsigned char mac3[ZD_SHA256_LEN];
	char		b64[64];

	(void) arg;
	/* part1 || part2 is what is signed, wherever it is split */
	CHECK(zdcrypt_hmac_sha256(ZD_TEST_SECRET, strlen(ZD_TEST_SECRET), all, strlen(all), "", 0, mac1));
	CHECK(zdcrypt_hmac_sha256(ZD_TEST_SECRET, strlen(ZD_TEST_SECRET), "", 0, all, strlen(all), mac2));
	CHECK(zdcrypt_hmac_sha256(ZD_TEST_SECRET, strlen(ZD_TEST_SECRET), all, 7, all + 7, strlen(all) - 7, mac3));
	CHECK_MEM(mac1, mac2, sizeof(mac1));
	CHECK_MEM(mac1, mac3, sizeof(mac1));
	zdcrypt_base64_encode(mac1, sizeof(mac1), b64);
	CHECK_STR(b64, ZD_TEST_SIGNATURE);
}

static void
test_hmac_negative(const void *arg)
{
	static const char decoded[] = "this_secret_is_for_testing_only";
	unsigned char good[ZD_SHA256_LEN];
	unsigned char mac[ZD_SHA256_LEN];

	(void) arg;
	CHECK(zdcrypt_hmac_sha256(ZD_TEST_SECRET, strlen(ZD_TEST_SECRET), ZD_TEST_STAMP, strlen(ZD_TEST_STAMP),
							  ZD_TEST_BODY, strlen(ZD_TEST_BODY), good));
	/* the base64-decoded secret is not the key */
	CHECK(zdcrypt_hmac_sha256(decoded, strlen(decoded), ZD_TEST_STAMP, strlen(ZD_TEST_STAMP),
							  ZD_TEST_BODY, strlen(ZD_TEST_BODY), mac));
	CHECK(!zdcrypt_equal(good, mac, sizeof(mac)));
	/* one byte of the body changed */
	CHECK(zdcrypt_hmac_sha256(ZD_TEST_SECRET, strlen(ZD_TEST_SECRET), ZD_TEST_STAMP, strlen(ZD_TEST_STAMP),
							  "{\"event\":\"ticket.updated\",\"id\":124}", strlen(ZD_TEST_BODY), mac));
	CHECK(!zdcrypt_equal(good, mac, sizeof(mac)));
	/* another timestamp */
	CHECK(zdcrypt_hmac_sha256(ZD_TEST_SECRET, strlen(ZD_TEST_SECRET), "2021-03-25T05:09:28Z", 20,
							  ZD_TEST_BODY, strlen(ZD_TEST_BODY), mac));
	CHECK(!zdcrypt_equal(good, mac, sizeof(mac)));
	/* an empty body (trigger webhooks may send none) still works */
	CHECK(zdcrypt_hmac_sha256(ZD_TEST_SECRET, strlen(ZD_TEST_SECRET), ZD_TEST_STAMP, strlen(ZD_TEST_STAMP),
							  "", 0, mac));
}

typedef struct HmacCase
{
	const char *desc;
	const char *key_hex;
	const char *data;
	const char *want;
} HmacCase;

/* RFC 4231 */
static const HmacCase hmac_cases[] = {
	{"RFC 4231 test case 1", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "Hi There",
	"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
	{"RFC 4231 test case 2", "4a656665", "what do ya want for nothing?",
	"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
	{"RFC 4231 test case 6 (131-byte key)",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"Test Using Larger Than Block-Size Key - Hash Key First",
	"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
};

static void
test_hmac_rfc4231(const void *arg)
{
	const HmacCase *c = arg;
	unsigned char key[256];
	size_t		key_len = zt_unhex(c->key_hex, key, sizeof(key));
	unsigned char mac[ZD_SHA256_LEN];
	char		hex[2 * ZD_SHA256_LEN + 1];
	size_t		half = strlen(c->data) / 2;

	CHECK(zdcrypt_hmac_sha256(key, key_len, c->data, half, c->data + half,
							  strlen(c->data) - half, mac));
	hex_of(mac, sizeof(mac), hex);
	CHECK_STR(hex, c->want);
}

typedef struct B64Case
{
	const char *in_hex;
	const char *want;
} B64Case;

static const B64Case b64_cases[] = {
	{"", ""},
	{"66", "Zg=="},
	{"666f", "Zm8="},
	{"666f6f", "Zm9v"},
	{"666f6f62", "Zm9vYg=="},
	{"666f6f6261", "Zm9vYmE="},
	{"666f6f626172", "Zm9vYmFy"},
	{"fffe", "//4="},
	{"fbff", "+/8="},
	{"00", "AA=="},
	{"000000", "AAAA"},
};

static void
test_base64(const void *arg)
{
	const B64Case *c = arg;
	unsigned char in[64];
	size_t		len = zt_unhex(c->in_hex, in, sizeof(in));
	size_t		room = 4 * ((len + 2) / 3) + 1;	/* the documented size */
	char	   *out = malloc(room);
	unsigned char *in_exact = (unsigned char *) zt_exact(in, len);
	size_t		n;

	REQUIRE(out != NULL);
	n = zdcrypt_base64_encode(in_exact, len, out);
	CHECK_STR(out, c->want);
	CHECK_I64(n, strlen(c->want));
	free(in_exact);
	free(out);
}

static void
test_base64_digest(const void *arg)
{
	unsigned char digest[ZD_SHA256_LEN];
	char		out[45];

	(void) arg;
	CHECK(zdcrypt_sha256("abc", 3, digest));
	CHECK_I64(zdcrypt_base64_encode(digest, sizeof(digest), out), 44);
	CHECK_STR(out, "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
}

static void
test_equal(const void *arg)
{
	unsigned char a[32];
	unsigned char b[32];

	(void) arg;
	memset(a, 0x11, sizeof(a));
	memcpy(b, a, sizeof(b));
	CHECK(zdcrypt_equal(a, b, sizeof(a)));
	b[0] ^= 1;
	CHECK(!zdcrypt_equal(a, b, sizeof(a)));
	b[0] ^= 1;
	b[31] ^= 0x80;
	CHECK(!zdcrypt_equal(a, b, sizeof(a)));
	CHECK(zdcrypt_equal(a, b, 31));	/* only the first 31 bytes */
	CHECK(zdcrypt_equal(a, b, 0));
	CHECK(zdcrypt_equal("S/RDdU2E", "S/RDdU2E", 8));
	CHECK(!zdcrypt_equal("S/RDdU2E", "S/RDdU2F", 8));
}

int
main(int argc, char **argv)
{
	static const size_t lengths[] = {0, 1, 15, 16, 17, 31, 32, 33, 255, 4096, 65537};
	size_t		i;

	zt_add(test_key_id, NULL, "zdcrypt_key_id: first 4 bytes of SHA-256(key)");
	for (i = 0; i < countof(lengths); i++)
		zt_add(test_round_trip, (const void *) (uintptr_t) lengths[i],
			   "zdcrypt_seal/open: round trip of %zu bytes", lengths[i]);
	zt_add(test_round_trip_text, NULL, "zdcrypt_seal/open: round trip of a signing secret");
	zt_add(test_gcm_known_answer, NULL, "zdcrypt_seal/open: AES-256-GCM known answer (GCM spec test case 16)");
	zt_add(test_wrong_key, NULL, "zdcrypt_open: another key is ZD_OPEN_WRONG_KEY");
	for (i = 0; i < countof(tamper_cases); i++)
		zt_add(test_tamper, &tamper_cases[i], "zdcrypt_open: %s", tamper_cases[i].desc);
	zt_add(test_malformed, NULL, "zdcrypt_open: short input, bad version, truncated, appended");
	zt_add(test_nonce_matters, NULL, "zdcrypt_seal: the nonce changes the ciphertext; same nonce, same output");
	for (i = 0; i < countof(sha_cases); i++)
		zt_add(test_sha256, &sha_cases[i], "zdcrypt_sha256: %s", sha_cases[i].desc);
	zt_add(test_hmac_zendesk_example, NULL,
		   "zdcrypt_hmac_sha256: Zendesk's documented signature example, base64 " ZD_TEST_SIGNATURE);
	zt_add(test_hmac_split, NULL, "zdcrypt_hmac_sha256: signs part1 || part2 wherever split");
	zt_add(test_hmac_negative, NULL, "zdcrypt_hmac_sha256: decoded secret, other body or time differ");
	for (i = 0; i < countof(hmac_cases); i++)
		zt_add(test_hmac_rfc4231, &hmac_cases[i], "zdcrypt_hmac_sha256: %s", hmac_cases[i].desc);
	for (i = 0; i < countof(b64_cases); i++)
		zt_add(test_base64, &b64_cases[i], "zdcrypt_base64_encode: hex \"%s\" is \"%s\"",
			   b64_cases[i].in_hex, b64_cases[i].want);
	zt_add(test_base64_digest, NULL, "zdcrypt_base64_encode: a SHA-256 digest is 44 characters");
	zt_add(test_equal, NULL, "zdcrypt_equal");
	return zt_main(argc, argv);
}
