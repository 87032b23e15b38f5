"""Public hooks other apps subscribe to (connected in their AppConfig.ready()).

Signals are used only as decoupling points between apps; the sender does its own work
first and never depends on a receiver.
"""

from django.dispatch import Signal

# space=Space, actor=User; sent inside the creating transaction.
space_created = Signal()
# space=Space, user=User, actor=User
member_added = Signal()
