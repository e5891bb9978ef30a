-- The calendar's review of finished program weeks (weekly_review.py): the site-local day
-- each enrollment was last reviewed, so an enrollment is looked at once a day at most.
ALTER TABLE enrollments ADD COLUMN weeks_reviewed_on date;
CREATE INDEX enrollments_week_review ON enrollments (weeks_reviewed_on)
    WHERE ended_on IS NULL;
