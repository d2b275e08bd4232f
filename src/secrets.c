/*-------------------------------------------------------------------------
 *
 * secrets.c
 *		Where corsa_zendesk's secrets come from and how they are kept: the
 *		key file, sealing and opening stored credentials, random tokens, and
 *		keeping credentials that were passed as SQL arguments out of
 *		pg_stat_activity and out of the STATEMENT line of error reports.
 *
 * The key (32 random bytes, written as 64 hexadecimal characters) is read
 * from corsa_zendesk.secret_key_file.  When that setting is empty, the file
 * corsa_zendesk.key in the data directory is used; if it does not exist yet
 * it is created with mode 0600 and a WARNING names it.  The key never
 * leaves this file's static buffer; it is re-read when the setting changes.
 *
 * src/secrets.c
 *
 *-------------------------------------------------------------------------
 */
#include "corsa_zendesk.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "crypto.h"

#define ZD_DEFAULT_KEY_FILE		"corsa_zendesk.key"
#define ZD_KEY_HEX_LEN			(ZD_KEY_LEN * 2)

static unsigned char secret_key[ZD_KEY_LEN];
static char *secret_key_path = NULL;	/* path the cached key came from */

static const char *purpose_aad(ZdSecretPurpose purpose);
static const char *purpose_name(ZdSecretPurpose purpose);
static char *key_file_path(void);
static void load_key(bool create_if_missing);
static void create_key_file(const char *path);
static void read_key_file(const char *path, int fd);

static const char *
purpose_aad(ZdSecretPurpose purpose)
{
	switch (purpose)
	{
		case ZD_SECRET_API_TOKEN:
			return "corsa_zendesk:api_token";
		case ZD_SECRET_WEBHOOK_TOKEN:
			return "corsa_zendesk:webhook_token";
		case ZD_SECRET_SIGNING_SECRET:
			return "corsa_zendesk:signing_secret";
	}
	return "corsa_zendesk";
}

static const char *
purpose_name(ZdSecretPurpose purpose)
{
	switch (purpose)
	{
		case ZD_SECRET_API_TOKEN:
			return "API token";
		case ZD_SECRET_WEBHOOK_TOKEN:
			return "webhook token";
		case ZD_SECRET_SIGNING_SECRET:
			return "webhook signing secret";
	}
	return "secret";
}

/*
 * key_file_path
 *		The configured key file, or corsa_zendesk.key in the data directory.
 *		Relative paths are relative to the data directory, like other file
 *		settings.
 */
static char *
key_file_path(void)
{
	if (zd_secret_key_file != NULL && zd_secret_key_file[0] != '\0')
	{
		if (is_absolute_path(zd_secret_key_file))
			return pstrdup(zd_secret_key_file);
		return psprintf("%s/%s", DataDir, zd_secret_key_file);
	}
	return psprintf("%s/%s", DataDir, ZD_DEFAULT_KEY_FILE);
}

/*
 * load_key
 *		Make sure secret_key holds the current key.  Only the default key
 *		file is ever created, and only when sealing (create_if_missing).
 */
static void
load_key(bool create_if_missing)
{
	char	   *path = key_file_path();
	bool		default_file = (zd_secret_key_file == NULL || zd_secret_key_file[0] == '\0');
	int			fd;

	if (secret_key_path != NULL && strcmp(secret_key_path, path) == 0)
	{
		pfree(path);
		return;
	}

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0 && errno == ENOENT && default_file && create_if_missing)
	{
		create_key_file(path);
		fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	}
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open the corsa_zendesk key file \"%s\": %m", path),
				 default_file
				 ? errhint("No credentials have been stored with a key from this data directory yet, "
						   "or the key file was removed; run zd_configure() again.")
				 : errhint("Set corsa_zendesk.secret_key_file to a file readable by the server "
						   "that holds 64 hexadecimal characters.")));

	read_key_file(path, fd);
	CloseTransientFile(fd);

	if (secret_key_path != NULL)
		pfree(secret_key_path);
	secret_key_path = MemoryContextStrdup(TopMemoryContext, path);
	pfree(path);
}

/*
 * read_key_file
 *		Check the file's permissions and parse the key.  Error messages never
 *		contain the file's content.
 */
static void
read_key_file(const char *path, int fd)
{
	struct stat st;
	char		buf[ZD_KEY_HEX_LEN * 4];
	ssize_t		n;
	char	   *start;
	char	   *end;
	int			i;

	if (fstat(fd, &st) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat the corsa_zendesk key file \"%s\": %m", path)));
	/*
	 * The data directory's own rule: never world access; group read only
	 * when the cluster allows group access (initdb -g), or for a file owned
	 * by root, as for ssl_key_file.
	 */
	if ((st.st_mode & S_IRWXO) != 0 ||
		((st.st_mode & S_IRWXG) != 0 && st.st_uid != 0 &&
		 (data_directory_mode & S_IRWXG) == 0))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("the corsa_zendesk key file \"%s\" is readable by other users", path),
				 errdetail("It must be mode 0600 (0640 when owned by root, or when the cluster "
						   "allows group access)."),
				 errhint("Run chmod 0600 on the file.")));

	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read the corsa_zendesk key file \"%s\": %m", path)));
	buf[n] = '\0';

	start = buf;
	while (*start != '\0' && isspace((unsigned char) *start))
		start++;
	end = start + strlen(start);
	while (end > start && isspace((unsigned char) end[-1]))
		end--;

	for (i = 0; i < ZD_KEY_HEX_LEN && start + i < end; i++)
	{
		if (!isxdigit((unsigned char) start[i]))
			break;
	}
	if (end - start != ZD_KEY_HEX_LEN || i != ZD_KEY_HEX_LEN)
	{
		explicit_bzero(buf, sizeof(buf));
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("the corsa_zendesk key file \"%s\" does not hold a 256-bit key", path),
				 errdetail("It must contain 64 hexadecimal characters (32 random bytes), "
						   "optionally surrounded by white space.")));
	}
	hex_decode(start, ZD_KEY_HEX_LEN, (char *) secret_key);
	explicit_bzero(buf, sizeof(buf));
}

/*
 * create_key_file
 *		Write a new random key to path with mode 0600.  The file appears
 *		under its final name only once complete (written to a temporary
 *		file, then linked), and a concurrent creator's key wins over ours.
 */
static void
create_key_file(const char *path)
{
	unsigned char key[ZD_KEY_LEN];
	char		hex[ZD_KEY_HEX_LEN + 2];
	char	   *tmp = psprintf("%s.tmp.%d", path, MyProcPid);
	int			fd;
	bool		created;

	if (!pg_strong_random(key, sizeof(key)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random key")));
	hex_encode((const char *) key, sizeof(key), hex);
	hex[ZD_KEY_HEX_LEN] = '\n';
	hex[ZD_KEY_HEX_LEN + 1] = '\0';
	explicit_bzero(key, sizeof(key));

	fd = OpenTransientFilePerm(tmp, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, S_IRUSR | S_IWUSR);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create the corsa_zendesk key file \"%s\": %m", tmp)));
	if (write(fd, hex, ZD_KEY_HEX_LEN + 1) != ZD_KEY_HEX_LEN + 1 || pg_fsync(fd) != 0)
	{
		int			save_errno = errno;

		CloseTransientFile(fd);
		unlink(tmp);
		errno = save_errno ? save_errno : ENOSPC;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write the corsa_zendesk key file \"%s\": %m", tmp)));
	}
	explicit_bzero(hex, sizeof(hex));
	CloseTransientFile(fd);

	created = (link(tmp, path) == 0);
	if (!created && errno != EEXIST)
	{
		int			save_errno = errno;

		unlink(tmp);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create the corsa_zendesk key file \"%s\": %m", path)));
	}
	unlink(tmp);
	if (created)
	{
		char	   *dir = pstrdup(path);

		get_parent_directory(dir);
		fsync_fname(dir, true);
		ereport(WARNING,
				(errmsg("corsa_zendesk.secret_key_file is not set: created the key file \"%s\"", path),
				 errdetail("Stored Zendesk credentials are encrypted with the key in this file."),
				 errhint("Back this file up apart from the database; to keep it elsewhere, "
						 "move it and set corsa_zendesk.secret_key_file.")));
	}
	pfree(tmp);
}

/*
 * zd_encrypt_secret
 *		Seal a secret with the current key (created if needed).
 */
bytea *
zd_encrypt_secret(ZdSecretPurpose purpose, const char *plain)
{
	size_t		len = strlen(plain);
	unsigned char nonce[ZD_NONCE_LEN];
	bytea	   *result;

	load_key(true);
	if (!pg_strong_random(nonce, sizeof(nonce)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random nonce")));

	result = palloc(VARHDRSZ + len + ZD_SEAL_OVERHEAD);
	SET_VARSIZE(result, VARHDRSZ + len + ZD_SEAL_OVERHEAD);
	if (!zdcrypt_seal(secret_key, nonce, purpose_aad(purpose),
					  (const unsigned char *) plain, len,
					  (unsigned char *) VARDATA(result)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not encrypt the %s", purpose_name(purpose))));
	return result;
}

/*
 * zd_decrypt_secret
 *		Open a sealed secret; returns a palloc'd string.
 */
char *
zd_decrypt_secret(ZdSecretPurpose purpose, const bytea *sealed)
{
	size_t		len = VARSIZE_ANY_EXHDR(sealed);
	char	   *plain;
	size_t		plain_len = 0;
	int			rc;

	load_key(false);
	plain = palloc(len + 1);
	rc = zdcrypt_open(secret_key, purpose_aad(purpose),
					  (const unsigned char *) VARDATA_ANY(sealed), len,
					  (unsigned char *) plain, &plain_len);
	if (rc == ZD_OPEN_WRONG_KEY)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("the stored %s was encrypted with a different key", purpose_name(purpose)),
				 errdetail("The key in \"%s\" is not the one used when it was stored.",
						   secret_key_path),
				 errhint("Restore the original key file, or store the secret again "
						 "(zd_configure, zd_set_signing_secret).")));
	if (rc != ZD_OPEN_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the stored %s is damaged and cannot be decrypted", purpose_name(purpose)),
				 errhint("Store the secret again (zd_configure, zd_set_signing_secret).")));
	plain[plain_len] = '\0';
	return plain;
}

/*
 * zd_random_token
 *		nbytes of strong randomness as lower-case hexadecimal.
 */
char *
zd_random_token(int nbytes)
{
	unsigned char *raw = palloc(nbytes);
	char	   *hex = palloc(nbytes * 2 + 1);

	if (!pg_strong_random(raw, nbytes))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random token")));
	hex_encode((const char *) raw, nbytes, hex);
	hex[nbytes * 2] = '\0';
	explicit_bzero(raw, nbytes);
	pfree(raw);
	return hex;
}

/*
 * zd_sha256_bytea
 *		SHA-256 of data, as a bytea (what is stored to verify bearer tokens).
 */
bytea *
zd_sha256_bytea(const char *data, size_t len)
{
	bytea	   *result = palloc(VARHDRSZ + ZD_SHA256_LEN);

	SET_VARSIZE(result, VARHDRSZ + ZD_SHA256_LEN);
	if (!zdcrypt_sha256(data, len, (unsigned char *) VARDATA(result)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute a SHA-256 digest")));
	return result;
}

/*
 * zd_hide_statement_text
 *		Replace the text of the running statement, which may hold a
 *		credential given as a literal, in pg_stat_activity and in the
 *		STATEMENT line that an error report would add to the server log.
 *		The label stays until the session's next statement.
 */
void
zd_hide_statement_text(const char *label)
{
	debug_query_string = label;
	pgstat_report_activity(STATE_RUNNING, label);
}
