#!/usr/bin/python3
"""simctl.py: call the Zendesk simulator's control API from shell scripts.

    simctl.py BASE_URL METHOD PATH [JSON_BODY]

Prints the JSON answer; exits 1 (with the answer on stderr) on an HTTP error.
Standard library only, for /usr/bin/python3.
"""
import json
import sys
import urllib.error
import urllib.request


def main(argv):
    if len(argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    base, method, path = argv[1], argv[2].upper(), argv[3]
    data = argv[4].encode() if len(argv) == 5 else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:
            body = resp.read().decode()
    except urllib.error.HTTPError as err:
        print(err.read().decode(), file=sys.stderr)
        return 1
    if body:
        print(json.dumps(json.loads(body), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
