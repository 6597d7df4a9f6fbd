

training*

stepsmany

namex