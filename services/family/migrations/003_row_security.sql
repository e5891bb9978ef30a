SELECT iopnet_confine_to_site('family_circles');
SELECT iopnet_confine_to_site('support_persons');
SELECT iopnet_confine_to_site('consents');
SELECT iopnet_confine_to_site('family_sessions');
SELECT iopnet_confine_to_site('family_session_attendance');
SELECT iopnet_confine_to_site('scheduled_sessions');
SELECT iopnet_confine_to_site('phq9_measures');
SELECT iopnet_confine_to_site('care_status');
