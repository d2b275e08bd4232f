/*-------------------------------------------------------------------------
 *
 * crypto.h
 *		Cryptographic primitives of corsa_zendesk, on OpenSSL's libcrypto:
 *		sealing secrets with AES-256-GCM, HMAC-SHA256, SHA-256, base64 and
 *		constant-time comparison.  Backend-independent.
 *
 * src/crypto.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZD_CRYPTO_H
#define ZD_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#define ZD_KEY_LEN			32
#define ZD_NONCE_LEN		12
#define ZD_TAG_LEN			16
#define ZD_KEY_ID_LEN		4
#define ZD_SHA256_LEN		32
#define ZD_SEAL_VERSION		1

/* version byte, key id, nonce, then ciphertext, then tag */
#define ZD_SEAL_OVERHEAD	(1 + ZD_KEY_ID_LEN + ZD_NONCE_LEN + ZD_TAG_LEN)

/* results of zdcrypt_open */
#define ZD_OPEN_OK			0
#define ZD_OPEN_MALFORMED	(-1)
#define ZD_OPEN_WRONG_KEY	(-2)
#define ZD_OPEN_TAMPERED	(-3)

extern void zdcrypt_key_id(const unsigned char *key, unsigned char *key_id);
extern bool zdcrypt_seal(const unsigned char *key, const unsigned char *nonce,
						 const char *aad,
						 const unsigned char *plain, size_t plain_len,
						 unsigned char *out);
extern int	zdcrypt_open(const unsigned char *key, const char *aad,
						 const unsigned char *sealed, size_t sealed_len,
						 unsigned char *out, size_t *out_len);
extern bool zdcrypt_sha256(const void *data, size_t len, unsigned char *out);
extern bool zdcrypt_hmac_sha256(const void *key, size_t key_len,
								const void *part1, size_t len1,
								const void *part2, size_t len2,
								unsigned char *out);
extern size_t zdcrypt_base64_encode(const unsigned char *in, size_t len, char *out);
extern bool zdcrypt_equal(const void *a, const void *b, size_t len);

#endif							/* ZD_CRYPTO_H */
