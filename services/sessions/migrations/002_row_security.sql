SELECT iopnet_confine_to_site('enrollments');
