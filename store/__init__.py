"""The one owner of an email's state: every write of an email's rows goes through here.

Each operation takes a list of email ids (a chain step passes one, a batch its group) and is
one set-based statement or a few; `transitions.transition` is the only UPDATE of `status`.
"""
