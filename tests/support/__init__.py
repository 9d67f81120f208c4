"""Helpers shared by the test suite: real local servers and process runners."""
