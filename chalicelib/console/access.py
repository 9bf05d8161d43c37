"""Per-queue access: an agent works the queues their Cognito groups `queue-<id>` name; supervisors and admins all."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from chalicelib.auth import Role, Staff
from chalicelib.errors import Forbidden, NotFound
from chalicelib.models import ConversationModel

# A staff pool group per queue: `queue-general`, `queue-refunds`… (an admin adds agents to them).
QUEUE_GROUP_PREFIX = "queue-"


@dataclass(frozen=True, slots=True)
class QueueAccess:
    """The queues one staff member may list, open and answer; `queues` None means every queue."""

    queues: frozenset[str] | None

    @property
    def unrestricted(self) -> bool:
        return self.queues is None

    def allows(self, queue: str | None) -> bool:
        return self.queues is None or (queue or "") in self.queues

    def visible(self, queues: Iterable[str]) -> list[str]:
        """The campaign's queues this staff member sees, in the campaign's order."""
        return [q for q in queues if self.allows(q)]

    def refuse_queue(self, queue: str) -> None:
        if not self.allows(queue):
            raise Forbidden(f"the {queue} queue is not one of yours ({self.names()}): ask a supervisor for access")

    def check(self, conv: ConversationModel) -> None:
        """403 for a conversation in another queue, saying which and what to do."""
        if not self.allows(conv.queue):
            raise Forbidden(
                f"{conv.conversation_id} is in the {conv.queue} queue, which is not one of yours ({self.names()}): "
                "a supervisor can move it to your queue or give you that queue"
            )

    def check_id(self, conversation_id: str) -> None:
        """`check` by id, for routes that read the conversation later: one small read, none when unrestricted."""
        if self.queues is None:
            return
        try:
            conv = ConversationModel.get(conversation_id, attributes_to_get=["conversation_id", "queue"])
        except ConversationModel.DoesNotExist as exc:
            raise NotFound(f"no conversation {conversation_id}") from exc
        self.check(conv)

    def names(self) -> str:
        return ", ".join(sorted(self.queues or ())) or "none"


def queue_access(staff: Staff) -> QueueAccess:
    """Supervisors and admins see every queue. An agent sees the queues of their `queue-<id>` groups, or
    every queue while they are in none (a campaign that does not split its work needs no groups)."""
    if staff.has(Role.SUPERVISOR):
        return QueueAccess(None)
    mine = frozenset(g[len(QUEUE_GROUP_PREFIX) :] for g in staff.groups if g.startswith(QUEUE_GROUP_PREFIX))
    return QueueAccess(mine or None)
