-- What the camera recorded beyond date and model, and the placeholder drawn
-- while a photo's image loads. gps_* are private to the photo's owner.
ALTER TABLE photos ADD COLUMN lens TEXT;
ALTER TABLE photos ADD COLUMN exposure_s DOUBLE PRECISION;
ALTER TABLE photos ADD COLUMN f_number DOUBLE PRECISION;
ALTER TABLE photos ADD COLUMN iso INTEGER;
ALTER TABLE photos ADD COLUMN focal_mm DOUBLE PRECISION;
ALTER TABLE photos ADD COLUMN gps_lat DOUBLE PRECISION;
ALTER TABLE photos ADD COLUMN gps_lon DOUBLE PRECISION;
-- A ThumbHash, base64 (set by the render that makes the photo ready).
ALTER TABLE photos ADD COLUMN thumbhash TEXT;
