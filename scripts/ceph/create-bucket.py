#!/usr/bin/env python3
"""create-bucket.py ENDPOINT REGION ACCESS_KEY SECRET_KEY BUCKET

Creates an S3 bucket with one SigV4-signed PUT, using only the Python standard library (python3 comes
with ceph-common; curl may not be installed). Exits 0 when the bucket exists afterwards
(created now, or already owned by this user), else prints the server's answer and exits 1.
"""
import datetime
import hashlib
import hmac
import sys
import urllib.error
import urllib.parse
import urllib.request

endpoint, region, access_key, secret_key, bucket = sys.argv[1:6]
url = urllib.parse.urlsplit(endpoint)
now = datetime.datetime.now(datetime.timezone.utc)
amz_date = now.strftime('%Y%m%dT%H%M%SZ')
day = now.strftime('%Y%m%d')
empty_hash = hashlib.sha256(b'').hexdigest()
path = '/' + urllib.parse.quote(bucket)
headers = {'host': url.netloc, 'x-amz-content-sha256': empty_hash, 'x-amz-date': amz_date}
signed = ';'.join(sorted(headers))
canonical = '\n'.join(['PUT', path, '', ''.join(f'{k}:{headers[k]}\n' for k in sorted(headers)), signed, empty_hash])
scope = f'{day}/{region}/s3/aws4_request'
to_sign = '\n'.join(['AWS4-HMAC-SHA256', amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])


def mac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


key = mac(mac(mac(mac(('AWS4' + secret_key).encode(), day), region), 's3'), 'aws4_request')
signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
headers['authorization'] = f'AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed}, Signature={signature}'
request = urllib.request.Request(endpoint.rstrip('/') + path, method='PUT', headers=headers, data=b'')
try:
    with urllib.request.urlopen(request, timeout=30) as response:
        sys.exit(0)
except urllib.error.HTTPError as error:
    body = error.read().decode(errors='replace')
    if error.code == 409 and 'BucketAlreadyOwnedByYou' in body:
        sys.exit(0)
    print(f'create bucket {bucket}: HTTP {error.code} {body}', file=sys.stderr)
    sys.exit(1)
