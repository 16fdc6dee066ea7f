-- placeholder until the helper delivers
SELECT trackingId AS key, updated_at FROM outbound_sales.leads
