"""Gumloop's published contract as facts, and the check of our operation catalog against it.

`openapi` reads Gumloop's OpenAPI documents and keeps only facts (methods, hosts, paths,
parameters, body and response fields with their types, required flags and enums; no prose);
`compare` holds a catalog document to those facts and names every disagreement.
"""
