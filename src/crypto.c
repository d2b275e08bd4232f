/*-------------------------------------------------------------------------
 *
 * crypto.c
 *		Cryptographic primitives on OpenSSL's libcrypto (see crypto.h).
 *
 * Sealed format: 1 version byte, the first 4 bytes of SHA-256(key) (so
 * that a wrong key is told apart from tampering), a random 12-byte nonce,
 * the AES-256-GCM ciphertext and its 16-byte tag.  The additional
 * authenticated data names what the secret is (API token, webhook token,
 * signing secret), so one cannot be swapped for another.
 *
 * src/crypto.c
 *
 *-------------------------------------------------------------------------
 */
#include "crypto.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

/*
 * zdcrypt_key_id
 *		The key's fingerprint stored with every sealed value.
 */
void
zdcrypt_key_id(const unsigned char *key, unsigned char *key_id)
{
	unsigned char digest[ZD_SHA256_LEN];

	zdcrypt_sha256(key, ZD_KEY_LEN, digest);
	memcpy(key_id, digest, ZD_KEY_ID_LEN);
}

/*
 * zdcrypt_seal
 *		Encrypt plain into out, which has room for plain_len +
 *		ZD_SEAL_OVERHEAD bytes.
 */
bool
zdcrypt_seal(const unsigned char *key, const unsigned char *nonce,
			 const char *aad, const unsigned char *plain, size_t plain_len,
			 unsigned char *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	unsigned char *p = out;
	int			len;
	bool		ok = false;

	if (ctx == NULL || plain_len > (size_t) 1 << 30)
		goto done;

	*p++ = ZD_SEAL_VERSION;
	zdcrypt_key_id(key, p);
	p += ZD_KEY_ID_LEN;
	memcpy(p, nonce, ZD_NONCE_LEN);
	p += ZD_NONCE_LEN;

	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, ZD_NONCE_LEN, NULL) != 1 ||
		EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) != 1 ||
		EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *) aad, (int) strlen(aad)) != 1 ||
		EVP_EncryptUpdate(ctx, p, &len, plain, (int) plain_len) != 1)
		goto done;
	p += len;
	if (EVP_EncryptFinal_ex(ctx, p, &len) != 1)
		goto done;
	p += len;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, ZD_TAG_LEN, p) != 1)
		goto done;
	ok = true;

done:
	EVP_CIPHER_CTX_free(ctx);
	return ok;
}

/*
 * zdcrypt_open
 *		Decrypt and authenticate a sealed value into out (room for
 *		sealed_len - ZD_SEAL_OVERHEAD bytes).  Returns ZD_OPEN_OK or why not.
 */
int
zdcrypt_open(const unsigned char *key, const char *aad,
			 const unsigned char *sealed, size_t sealed_len,
			 unsigned char *out, size_t *out_len)
{
	EVP_CIPHER_CTX *ctx;
	unsigned char key_id[ZD_KEY_ID_LEN];
	const unsigned char *nonce;
	const unsigned char *cipher;
	const unsigned char *tag;
	size_t		cipher_len;
	int			len;
	int			total;
	int			result = ZD_OPEN_TAMPERED;

	if (sealed_len < ZD_SEAL_OVERHEAD || sealed[0] != ZD_SEAL_VERSION)
		return ZD_OPEN_MALFORMED;
	zdcrypt_key_id(key, key_id);
	if (memcmp(key_id, sealed + 1, ZD_KEY_ID_LEN) != 0)
		return ZD_OPEN_WRONG_KEY;

	nonce = sealed + 1 + ZD_KEY_ID_LEN;
	cipher = nonce + ZD_NONCE_LEN;
	cipher_len = sealed_len - ZD_SEAL_OVERHEAD;
	tag = cipher + cipher_len;

	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return ZD_OPEN_TAMPERED;
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, ZD_NONCE_LEN, NULL) != 1 ||
		EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) != 1 ||
		EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *) aad, (int) strlen(aad)) != 1 ||
		EVP_DecryptUpdate(ctx, out, &len, cipher, (int) cipher_len) != 1)
		goto done;
	total = len;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, ZD_TAG_LEN, (void *) tag) != 1 ||
		EVP_DecryptFinal_ex(ctx, out + total, &len) != 1)
		goto done;
	*out_len = (size_t) (total + len);
	result = ZD_OPEN_OK;

done:
	EVP_CIPHER_CTX_free(ctx);
	return result;
}

bool
zdcrypt_sha256(const void *data, size_t len, unsigned char *out)
{
	return EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL) == 1;
}

/*
 * zdcrypt_hmac_sha256
 *		HMAC-SHA256 of part1 || part2 (Zendesk signs timestamp || body).
 */
bool
zdcrypt_hmac_sha256(const void *key, size_t key_len,
					const void *part1, size_t len1,
					const void *part2, size_t len2,
					unsigned char *out)
{
	static EVP_MAC *hmac = NULL;
	EVP_MAC_CTX *ctx;
	OSSL_PARAM	params[2];
	size_t		out_len = 0;
	bool		ok;

	if (hmac == NULL)
	{
		hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
		if (hmac == NULL)
			return false;
	}
	ctx = EVP_MAC_CTX_new(hmac);
	if (ctx == NULL)
		return false;
	params[0] = OSSL_PARAM_construct_utf8_string("digest", (char *) "SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = EVP_MAC_init(ctx, key, key_len, params) == 1 &&
		EVP_MAC_update(ctx, part1, len1) == 1 &&
		EVP_MAC_update(ctx, part2, len2) == 1 &&
		EVP_MAC_final(ctx, out, &out_len, ZD_SHA256_LEN) == 1 &&
		out_len == ZD_SHA256_LEN;
	EVP_MAC_CTX_free(ctx);
	return ok;
}

/*
 * zdcrypt_base64_encode
 *		Standard base64 with padding; out has room for 4 * ceil(len / 3) + 1
 *		bytes.  Returns the length written (without the NUL).
 */
size_t
zdcrypt_base64_encode(const unsigned char *in, size_t len, char *out)
{
	return (size_t) EVP_EncodeBlock((unsigned char *) out, in, (int) len);
}

/*
 * zdcrypt_equal
 *		Constant-time comparison of two equal-length buffers.
 */
bool
zdcrypt_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}
