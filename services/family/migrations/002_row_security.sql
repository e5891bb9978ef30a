SELECT iopnet_confine_to_site('family_circles');
