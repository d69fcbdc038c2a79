"""The operator role (seed 000's telco service): an operator's token endpoint for brokers.

``tokend serve --only telco --telco-id orange`` serves one operator at the root; in the
all-in-one app the configured operator sits under ``/telcos/<id>``, and in demo mode the seed's
three operators run there in-process so the broker's demo directory can point at them.
"""
