"""Public hooks other apps subscribe to (connected in their AppConfig.ready()).

Signals are used only as decoupling points between apps; the sender does its own work
first and never depends on a receiver.
"""

from django.dispatch import Signal

# space=Space, actor=User; sent inside the creating transaction.
space_created = Signal()
# space=Space, user=User, actor=User
member_added = Signal()

# After a successful push (repos smart HTTP or the commit API), once committed:
# repo=repos.models.Repository, pusher=User|None,
# ref_updates=list[tuple[str, str, str]] of (ref name like "refs/heads/main", old sha, new sha),
# "0"*40 meaning created/deleted.
repo_pushed = Signal()

# When a deployment or custom domain changes, dispatch drops cached routes. hostnames=list[str]
routes_changed = Signal()

# workflows: a pull request was opened, reopened, edited or closed (after commit):
# pr=repos.models.PullRequest, action="opened"|"reopened"|"edited"|"closed", actor=User|None.
# Head updates ("synchronize") are derived by workflows from repo_pushed, so repos need not send them.
pull_request_changed = Signal()
