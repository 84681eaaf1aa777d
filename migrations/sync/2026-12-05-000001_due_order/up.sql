-- Runs with search_path set to this service's schema.

-- A sender reads a company's next due deliveries in the order they are sent (time, empId), a few
-- requests' worth at a time. This index hands them over in that order, so a read stops after the
-- window instead of sorting every waiting delivery of a large import on every request.
CREATE INDEX deliveries_due_order ON deliveries (company_id, local_time, emp_id, punch_id)
    WHERE state IN ('pending', 'retry_wait', 'scheduled');
