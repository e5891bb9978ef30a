-- Support persons are projected from events: SupportPersonLinked makes the row, the private
-- SupportPersonNamed (sealed) gives its name. A forgotten patient's name reads as nothing,
-- so a rebuild writes no name for it.
ALTER TABLE support_persons ALTER COLUMN given_name DROP NOT NULL;
ALTER TABLE support_persons ALTER COLUMN family_name DROP NOT NULL;
