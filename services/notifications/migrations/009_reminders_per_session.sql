-- One SessionsScheduled reminds of each of its sessions: those reminders share their cause,
-- kind and recipient, and differ by session (domain/message.py, message_id_of).
ALTER TABLE messages DROP CONSTRAINT messages_cause_id_kind_recipient_role_recipient_id_key;
CREATE UNIQUE INDEX messages_cause ON messages
    (cause_id, kind, recipient_role, recipient_id, coalesce(session_id, ''));
