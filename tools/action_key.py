"""Puts a random LOOKOUT_ACTION_KEY into the stack's secret when it has none.

`make deploy` runs it before `sam deploy` (a stack that exists gets its key before its functions
are replaced, so their new instances read it) and after (a new stack). The key signs the
acknowledge and silence links in alerts (docs/answers.md); a key already there is never changed,
so the links already sent keep working. Every other key of the secret is kept as it is.

    python tools/action_key.py --stack lookout      # the stack's SecretArn output
    python tools/action_key.py --secret-arn ARN     # a secret named directly
"""

import argparse
import json
import os
import secrets
import sys

import boto3
from botocore.exceptions import ClientError

KEY = "LOOKOUT_ACTION_KEY"


def client(service):
    # The region of the profile, else AWS_REGION (as the SDKs and sam read it).
    session = boto3.session.Session()
    return session.client(service, region_name=session.region_name or os.environ.get("AWS_REGION"))


def secret_arn_of(stack):
    try:
        found = client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except ClientError:
        return None
    for output in found[0].get("Outputs", []) if found else []:
        if output["OutputKey"] == "SecretArn":
            return output["OutputValue"]
    return None


def ensure(arn):
    secrets_manager = client("secretsmanager")
    text = secrets_manager.get_secret_value(SecretId=arn).get("SecretString") or "{}"
    value = json.loads(text)
    if not isinstance(value, dict):
        sys.exit("the stack's secret is not a JSON object: fix it, then run make deploy again")
    if str(value.get(KEY, "")).strip():
        print(f"{KEY}: kept")
        return
    value[KEY] = secrets.token_hex(32)
    secrets_manager.put_secret_value(SecretId=arn, SecretString=json.dumps(value))
    print(f"{KEY}: a new one is in the stack's secret (answer links are signed with it)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack")
    where.add_argument("--secret-arn")
    args = parser.parse_args()
    arn = args.secret_arn or secret_arn_of(args.stack)
    if arn is None:
        print(f"{KEY}: no stack {args.stack} yet (make deploy adds the key once it exists)")
        return
    ensure(arn)


if __name__ == "__main__":
    main()
