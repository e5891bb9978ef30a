-- A site's weekly minimum is an IOP's: 9 hours to under 20 (SitePolicies, catalog v2 of
-- SiteOnboarded / SitePoliciesChanged). Rows derived from v1 events get what the
-- upcaster gives those events: the floor, or 19.
UPDATE sites SET policies = jsonb_set(policies, '{attendance_min_weekly_hours}',
    to_jsonb(LEAST(GREATEST((policies->>'attendance_min_weekly_hours')::float, 9), 19)))
WHERE policies ? 'attendance_min_weekly_hours'
  AND ((policies->>'attendance_min_weekly_hours')::float < 9
       OR (policies->>'attendance_min_weekly_hours')::float >= 20);
