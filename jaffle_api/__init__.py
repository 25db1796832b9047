"""A local stand-in of the public jaffle-shop REST API, so ingestion runs and is tested offline.

It serves the same paths, paging and record shapes as https://jaffle-shop.dlthub.com/api/v1,
from data generated deterministically per day, and can inject faults on demand. To go live,
point the platform at the real API instead: `JAFFLE_API_URL=https://jaffle-shop.dlthub.com/api/v1`.
Nothing outside this package depends on its internals, so a fork can delete it in one move.
"""
