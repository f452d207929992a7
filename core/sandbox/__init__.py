"""The hands: the Sandbox protocol and its Docker implementation."""
