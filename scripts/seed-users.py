#!/usr/bin/env python3
"""Seeds users through /Bulk (1,000 operations a request), for the benchmark scripts.

    seed-users.py BASE_URL COUNT PREFIX TOKEN [ID_FILE]

Users are PREFIX0@example.com ... with externalId, name, one email and one of three titles;
the ids of the created users are written to ID_FILE when given.
"""
import json, sys, urllib.request

base, n, prefix, tok = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
out = sys.argv[5] if len(sys.argv) > 5 else ""
ids = open(out, "w") if out else None
for start in range(0, n, 1000):
    ops = [{"method": "POST", "path": "/Users", "bulkId": f"b{i}", "data": {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"{prefix}{i}@example.com", "externalId": f"{prefix}ext-{i}",
        "name": {"givenName": f"Given{i}", "familyName": f"Family{i}"},
        "emails": [{"value": f"{prefix}{i}@example.com", "type": "work", "primary": True}],
        "title": ["Engineer", "Manager", "Analyst"][i % 3], "active": True}}
        for i in range(start, min(n, start + 1000))]
    body = json.dumps({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops}).encode()
    req = urllib.request.Request(base + "/Bulk", body, {"Authorization": "Bearer " + tok, "Content-Type": "application/scim+json"})
    resp = json.loads(urllib.request.urlopen(req).read())
    if ids:
        for r in resp["Operations"]:
            if r.get("location"):
                ids.write(r["location"].rsplit("/", 1)[1] + "\n")
