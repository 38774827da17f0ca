-- 016: the SECURITY DEFINER functions of 011 search pg_catalog first and pg_temp last.
--
-- They run with their owner's rights for any caller. With `search_path = public`, pg_temp is
-- still searched first for tables (and public before pg_catalog for functions), so a caller able
-- to create a temporary table named like one they read could steer them. 017's functions were
-- written this way from the start; 011 is applied already, so its functions are altered here.
ALTER FUNCTION jarvis_node_exists(TEXT, TEXT, BOOLEAN) SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION jarvis_edge_endpoints_exist() SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION jarvis_drop_edges_of_node() SET search_path = pg_catalog, public, pg_temp;
