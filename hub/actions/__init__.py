"""Write actions. Every change of domain state goes through a function in this package or
in :mod:`moderation.actions`: ``check_*`` validates and checks permission, ``do_*``
changes state and publishes events after commit."""
