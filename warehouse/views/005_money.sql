-- The one conversion to the base currency: amount × exact rate, rounded half-up (half away from zero, as
-- DuckDB's DECIMAL round does) to `digits`, the base currency's minor unit (2 for RON and EUR). Used by the
-- loader for a new gift's amount_base and net_amount_base and by the refund fold for net_amount_base.
-- DECIMAL(38, …) on the way so that no product can overflow before it is rounded.
CREATE OR REPLACE MACRO to_base_currency(amount, rate, digits) AS
    CAST(round(CAST(amount AS DECIMAL(38,2)) * CAST(rate AS DECIMAL(38,8)), digits) AS DECIMAL(18,2));
