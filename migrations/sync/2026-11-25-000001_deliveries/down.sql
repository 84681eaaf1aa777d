DROP TABLE sender_leases;
DROP TABLE company_sync_state;
DROP TABLE bayzat_requests;
DROP TABLE deliveries;
DROP TABLE sync_batches;
