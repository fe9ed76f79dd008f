"""Subscribers: organisations and their profiles (saved searches).

``criteria`` is the one pure definition of what an organisation is and what a profile asks
for (read by the store, the command line, the matcher and the web search); ``places`` the
outward-code centroids behind "within N miles of a postcode"; ``manage`` the database side
(register, update, list, remove, CSV import and export).
"""
