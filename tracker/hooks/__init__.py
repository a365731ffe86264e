"""Delivery events from the providers people send through: SES, SendGrid, Mailgun, Postmark.

Each provider's webhook is authenticated its own way (``signatures``, ``sns``), read into
neutral notices (``notices``) and stored as tracker events under the seed rules
(``intake``).
"""
