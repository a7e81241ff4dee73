"""``bedrock-customize ui``: the run browser, a read-only web page on loopback over the same stack."""
